// Waiting on Hetzner during an image import: for an action to end, or for anything the API can be asked about.
// Every error that is not already a user's sentence or a cancel becomes one (toUserError).

import { UserError, isAbort } from '../base/errors';
import { toUserError } from '../providers/errors';
import { sleep } from '../providers/retry';
import type { HetznerImageApi, HzAction } from './hetzner-api';

export interface WaitContext {
  api: HetznerImageApi;
  signal?: AbortSignal;
  /** Default 2 s. */
  pollIntervalMs?: number;
}

/** Until the action succeeds; its progress (0–100) is reported as it changes. */
export async function waitAction(o: WaitContext, action: HzAction, what: string, timeoutMs: number, onPercent?: (p: number) => void): Promise<void> {
  let shown = -1;
  await until(
    `Hetzner to ${what}`,
    async () => {
      const a = action.status === 'running' ? await o.api.action(action.id, o.signal) : action;
      action = a;
      if (a.progress !== shown) onPercent?.((shown = a.progress));
      if (a.status === 'error') throw new UserError(`Hetzner could not ${what}: ${a.error?.message ?? 'the action failed'}.`);
      return a.status === 'success' ? a : undefined;
    },
    timeoutMs,
    o.pollIntervalMs ?? 2000,
    o.signal,
  );
}

/** Polls quickly at first (short actions end in well under a second), then every `pollMs`. */
export async function until<T>(what: string, get: () => Promise<T | undefined>, timeoutMs: number, pollMs: number, signal?: AbortSignal): Promise<T> {
  const end = Date.now() + timeoutMs;
  let delay = Math.min(250, pollMs);
  for (;;) {
    signal?.throwIfAborted();
    let v: T | undefined;
    try {
      v = await get();
    } catch (e) {
      throw explain(e);
    }
    if (v !== undefined) return v;
    if (Date.now() > end) throw new UserError(`Gave up waiting for ${what} after ${Math.round(timeoutMs / 1000)} s.`, { kind: 'retry' });
    await sleep(delay, signal);
    delay = Math.min(pollMs, delay * 2);
  }
}

export function explain(e: unknown): unknown {
  return e instanceof UserError || isAbort(e) ? e : toUserError('hetzner', e);
}
