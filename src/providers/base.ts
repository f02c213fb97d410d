// What both clouds do the same way, over a few primitives each client supplies: listing by tag or run id, getting
// one machine, deleting it. The rules live here once: only tagged machines are touched, a machine already gone is
// a success, every failure reaches the caller as a UserError (or as their own abort), creates are exactly-once.

import { UserError } from '../base/errors';
import { PROVIDER_LABEL } from '../base/tokens';
import { createOnce, NameReservations, type CreateSteps } from './create';
import { explainInvalidCreate, isAuthError, isLimitError, toUserError } from './errors';
import { serverDate, type ProviderOptions } from './options';
import { ApiError, retryOptions, type RetryOptions } from './retry';
import { checkRunId, newRunId } from './tags';
import { TAG, type CloudProvider, type CreateRequest, type Image, type ListResult, type Machine, type ProviderId, type Region, type Size } from './types';

export interface Listing<R> {
  items: R[];
  /** Headers of the last page (its `Date` is the server's clock). */
  headers: Record<string, string>;
}

export abstract class ProviderBase<R> implements CloudProvider {
  abstract readonly id: ProviderId;
  protected readonly retry: RetryOptions;
  private readonly reservations = new NameReservations();

  constructor(
    protected readonly opts: ProviderOptions,
    /** The API base URL actually used, named in network errors when it is not the real cloud's. */
    protected readonly endpoint: string,
  ) {
    this.retry = retryOptions(opts.retry);
  }

  // --- what each client supplies (all retrying where that is safe; failures as ApiError) ---

  /** Every machine with the `thebacknd` tag (runId undefined), or those of one run. All pages. */
  protected abstract listRaw(runId: string | undefined, signal?: AbortSignal): Promise<Listing<R>>;
  /** One machine by id, undefined when there is none. */
  protected abstract getRaw(id: string, signal?: AbortSignal): Promise<R | undefined>;
  protected abstract deleteRaw(raw: R, signal?: AbortSignal): Promise<void>;
  protected abstract nameOf(raw: R): string;
  protected abstract toMachine(raw: R): Machine;
  /** One create request, never retried. */
  protected abstract postCreate(req: CreateRequest, name: string, runId: string, signal?: AbortSignal): Promise<Machine>;
  protected abstract isNameClash(e: ApiError): boolean;
  /** For clouds that accept duplicate names: make the name unique after the fact. */
  protected settleName?(m: Machine, signal?: AbortSignal): Promise<Machine>;

  abstract setDeadline(id: string, deadline: Date, signal?: AbortSignal): Promise<void>;
  abstract powerOff(id: string, signal?: AbortSignal): Promise<void>;
  abstract regions(signal?: AbortSignal): Promise<Region[]>;
  abstract sizes(signal?: AbortSignal): Promise<Size[]>;
  abstract images(signal?: AbortSignal): Promise<Image[]>;

  // --- the shared operations ---

  list(signal?: AbortSignal): Promise<ListResult> {
    return this.guard(async () => {
      const { items, headers } = await this.listRaw(undefined, signal);
      return { machines: items.map((r) => this.toMachine(r)).filter((m) => m.tagged), serverTime: serverDate(headers) };
    }, signal);
  }

  get(id: string, signal?: AbortSignal): Promise<Machine | undefined> {
    return this.guard(async () => {
      const raw = await this.getRaw(id, signal);
      return raw && this.toMachine(raw);
    }, signal);
  }

  async create(req: CreateRequest, signal?: AbortSignal): Promise<Machine> {
    const runId = req.runId !== undefined ? checkRunId(req.runId) : newRunId();
    const ofRun = async (s?: AbortSignal) => (await this.listRaw(runId, s)).items.map((r) => this.toMachine(r)).filter((m) => m.tagged);
    const steps: CreateSteps = {
      takenNames: async (s) => (await this.listRaw(undefined, s)).items.map((r) => this.nameOf(r)),
      post: (name, s) => this.postCreate(req, name, runId, s),
      findRun: ofRun,
      isNameClash: (e) => this.isNameClash(e),
      destroy: (id, s) => this.destroy(id, s),
      ...(this.settleName ? { settleName: (m: Machine, s?: AbortSignal) => this.settleName!(m, s) } : {}),
    };
    try {
      return await createOnce(steps, this.reservations, this.retry, signal);
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw await this.explainCreateFailure(e, req, signal);
    }
  }

  destroy(id: string, signal?: AbortSignal): Promise<void> {
    return this.guard(async () => {
      const raw = await this.owned(id, false, signal);
      if (raw) await this.deleteRaw(raw, signal).catch(goneIsDone);
    }, signal);
  }

  destroyByRunId(runId: string, signal?: AbortSignal): Promise<number> {
    return this.guard(async () => {
      const mine = (await this.listRaw(runId, signal)).items.map((r) => this.toMachine(r)).filter((m) => m.tagged && m.runId === runId);
      for (const m of mine) await this.destroy(m.id, signal);
      return mine.length;
    }, signal);
  }

  // --- helpers for the clients ---

  /** The machine if it is ours; refuses an untagged one. Gone: undefined, or an error when it must exist. */
  protected async owned(id: string, mustExist: boolean, signal?: AbortSignal): Promise<R | undefined> {
    const raw = await this.getRaw(id, signal);
    if (!raw) {
      if (mustExist) throw new UserError(`${PROVIDER_LABEL[this.id]} machine ${id} no longer exists.`);
      return undefined;
    }
    const m = this.toMachine(raw);
    if (!m.tagged) {
      const mark = this.id === 'digitalocean' ? `tag "${TAG}"` : `label "${TAG}"`;
      throw new UserError(`Refusing to touch ${m.name} (${PROVIDER_LABEL[this.id]} ${m.id}): it has no ${mark}, so thebacknd did not create it.`);
    }
    return raw;
  }

  /** Failures become UserErrors, except when the caller aborted: then the abort itself is what they get. */
  protected async guard<T>(fn: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw this.userError(e);
    }
  }

  private userError(e: unknown): Error {
    return toUserError(this.id, e, { endpoint: this.opts.endpoint ? this.endpoint : undefined, secrets: [this.opts.token] });
  }

  /** A 4xx on create most often names a region, size or image the cloud does not have: say which, with the valid ones. */
  private async explainCreateFailure(e: unknown, req: CreateRequest, signal?: AbortSignal): Promise<Error> {
    const refused = e instanceof ApiError && e.kind === 'http' && e.status! >= 400 && e.status! < 500 && e.status !== 429;
    if (refused && !isAuthError(e) && !isLimitError(e)) {
      try {
        const catalog = { regions: await this.regions(signal), sizes: await this.sizes(signal), images: await this.images(signal) };
        const explained = explainInvalidCreate(this.id, req, catalog);
        if (explained) return explained;
      } catch {
        // Fall through to the cloud's own message.
      }
    }
    return this.userError(e);
  }
}

export function goneIsDone(e: unknown): void {
  if (e instanceof ApiError && e.status === 404) return;
  throw e;
}
