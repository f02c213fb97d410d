// The account SSH key every create carries when the caller names none. Both clouds e-mail a root password for
// every machine created without a key (vps-worker's `suppressCreateEmail`); with one they send nothing. Its private
// half is never kept, so the key opens nothing even where the image installs the account's keys.
import { generateEd25519 } from '../base/ed25519';
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
  private id: Promise<string> | undefined;

  constructor(
    private readonly calls: KeyCalls,
    private readonly retry: RetryOptions,
  ) {}

  get(signal?: AbortSignal): Promise<string> {
    this.id ??= this.findOrMake(signal).catch((e: unknown) => {
      this.id = undefined;
      throw e;
    });
    return this.id;
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
