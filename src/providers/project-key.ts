// The account SSH key every create carries when the caller names none. Both clouds e-mail a root password for
// every machine created without a key (vps-worker's `suppressCreateEmail`); with one they send nothing. Its private
// half is never kept, so the key opens nothing even where the image installs the account's keys.
import { generateEd25519 } from '../base/ed25519';
import { abortable } from './options';
import { withRetry, type RetryOptions } from './retry';

/** Found by name, made once per Hetzner project or DigitalOcean team. */
export const PROJECT_KEY_NAME = 'thebacknd';

export interface KeyCalls {
  /** The id of the key named PROJECT_KEY_NAME, if the account has one. */
  find(signal?: AbortSignal): Promise<string | undefined>;
  /** Adds a key named PROJECT_KEY_NAME; its id. */
  make(publicKey: string, signal?: AbortSignal): Promise<string>;
}

/**
 * The project key's id, looked up once per client (a failure is looked up again next time), made when missing.
 * Making it is repeated safely: after a failure the key is looked up by name first (made by another window, or made
 * although the answer was lost), and a retryable failure (429, 5xx, network) is tried again.
 */
export class ProjectKey {
  private shared: { id: Promise<string>; stop: AbortController; waiting: number } | undefined;

  constructor(
    private readonly calls: KeyCalls,
    private readonly retry: RetryOptions,
  ) {}

  /**
   * Concurrent callers share one lookup, under a signal of its own: a caller that cancels stops only its own wait,
   * and the lookup stops once every caller waiting for it has cancelled.
   */
  get(signal?: AbortSignal): Promise<string> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!this.shared) {
      const stop = new AbortController();
      const lookup = { id: this.findOrMake(stop.signal), stop, waiting: 0 };
      lookup.id.catch(() => {
        if (this.shared === lookup) this.shared = undefined; // a failure is looked up again next time
      });
      this.shared = lookup;
    }
    const lookup = this.shared;
    lookup.waiting++; // a caller without a signal waits to the end
    // abortable settles once (with the lookup, or at this caller's cancel), so each caller leaves exactly once.
    return abortable(lookup.id, signal).finally(() => {
      if (--lookup.waiting === 0 && signal?.aborted && this.shared === lookup) {
        this.shared = undefined;
        lookup.stop.abort(signal.reason);
      }
    });
  }

  private async findOrMake(signal?: AbortSignal): Promise<string> {
    const found = await this.calls.find(signal);
    if (found) return found;
    // The private half is dropped here.
    const { publicKey } = generateEd25519('thebacknd: no private key; stops the cloud e-mailing root passwords');
    return withRetry(
      async () => {
        try {
          return await this.calls.make(publicKey, signal);
        } catch (e) {
          const again = await this.calls.find(signal);
          if (again) return again;
          throw e;
        }
      },
      this.retry,
      signal,
    );
  }
}
