// Exactly-once create, shared by both clouds. The create request carries a unique run id on the machine; when its
// answer is lost (timeout, reset, 5xx) the run id is looked up before anything is sent again, so one request never
// makes two machines. Names: the smallest free `thebacknd-N`; a clash (Hetzner's 409 uniqueness_error, or another
// window that took the same number) moves on to the next one.

import { smallestFreeName } from './naming';
import { ApiError, delayFor, isLostAnswer, isTransient, type RetryOptions } from './retry';
import type { Machine } from './types';

export interface CreateSteps {
  /** Names of all tagged machines (every page). Retries on its own. */
  takenNames(signal?: AbortSignal): Promise<string[]>;
  /** One create request, never retried. */
  post(name: string, signal?: AbortSignal): Promise<Machine>;
  /** Machines carrying this create's run id. Retries on its own. */
  findRun(signal?: AbortSignal): Promise<Machine[]>;
  isNameClash(e: ApiError): boolean;
  destroy(id: string, signal?: AbortSignal): Promise<void>;
  /** For clouds that accept duplicate names (DigitalOcean): make the name unique after the fact. */
  settleName?(m: Machine, signal?: AbortSignal): Promise<Machine>;
}

/** At most this many successive name clashes before giving up (each one re-lists). */
const MAX_CLASHES = 20;

/**
 * Names being created right now by this process: reserved synchronously before the request goes out, so concurrent
 * creates from one window never pick the same number. Other windows are handled by the clash rules.
 */
export class NameReservations {
  private readonly names = new Set<string>();
  /** The smallest free name, or `exact` when given (a retry keeps its name). */
  reserve(taken: Iterable<string>, exact?: string): string {
    const name = exact ?? smallestFreeName([...taken, ...this.names]);
    this.names.add(name);
    return name;
  }
  release(name: string | undefined): void {
    if (name !== undefined) this.names.delete(name);
  }
}

/**
 * After a lost answer the retry keeps the same name: where names are unique (Hetzner), a first request that the
 * cloud only processes later then fails on the name instead of making a second machine. A name clash after a lost
 * answer may be our own first request: the run id is looked up before moving on to the next number.
 */
export async function createOnce(steps: CreateSteps, reservations: NameReservations, o: RetryOptions, signal?: AbortSignal): Promise<Machine> {
  const clashed = new Set<string>();
  let taken = await steps.takenNames(signal);
  let lost = false;
  let clashes = 0;
  let held: string | undefined;
  let retryName: string | undefined;
  const found = async (): Promise<Machine | undefined> => {
    const all = await steps.findRun(signal);
    if (!all.length) return undefined;
    const m = await keepOnly(steps, all[0]!, signal, all);
    return steps.settleName ? steps.settleName(m, signal) : m;
  };
  try {
    for (let attempt = 0; ;) {
      reservations.release(held);
      held = reservations.reserve([...taken, ...clashed], retryName);
      const name = held;
      try {
        let m = await steps.post(name, signal);
        if (lost) m = await keepOnly(steps, m, signal);
        return steps.settleName ? await steps.settleName(m, signal) : m;
      } catch (e) {
        if (!(e instanceof ApiError) || signal?.aborted) throw e;
        if (steps.isNameClash(e)) {
          const mine = lost ? await found() : undefined;
          if (mine) return mine;
          if (++clashes > MAX_CLASHES) throw e;
          clashed.add(name);
          retryName = undefined;
          taken = await steps.takenNames(signal);
          continue;
        }
        if (isLostAnswer(e)) {
          lost = true;
          const mine = await found();
          if (mine) return mine;
        } else if (!isTransient(e)) {
          throw e;
        }
        if (attempt >= o.retries) throw e;
        retryName = name;
        await o.sleep(delayFor(e, attempt, o), signal);
        attempt++;
      }
    }
  } finally {
    reservations.release(held);
  }
}

/**
 * After a lost answer, a machine that the lookup could not see yet may still appear: if the run id now names more
 * than one machine, keep `keep` and destroy the others.
 */
async function keepOnly(steps: CreateSteps, keep: Machine, signal?: AbortSignal, known?: Machine[]): Promise<Machine> {
  const all = known ?? (await steps.findRun(signal));
  for (const m of all) if (m.id !== keep.id) await steps.destroy(m.id, signal);
  return keep;
}
