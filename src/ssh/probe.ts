// Is anything accepting TCP connections on host:port yet? A probe costs one SYN and no cryptography, so it can
// run every 100 ms while a machine boots; the SSH handshake (tens of milliseconds of key exchange and a login)
// starts only once the port accepts, instead of on a fixed 2-second retry.

import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

export type ProbeResult = 'accepting' | 'refused' | 'unreachable' | 'timeout';

/** One TCP connect, closed at once; never throws except on abort. */
export function probeTcp(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const done = (r: ProbeResult | Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const onAbort = () => done(signal?.reason instanceof Error ? signal.reason : new Error('The operation was aborted'));
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done('accepting'));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' ? 'refused' : err.code === 'ETIMEDOUT' ? 'timeout' : 'unreachable'),
    );
  });
}

export interface AcceptingOptions {
  /** Pause after a probe that failed fast (refused); default 100 ms. */
  intervalMs?: number;
  /** One probe's connect timeout; default 1 s (a probe that times out is followed at once by the next). */
  probeTimeoutMs?: number;
  /** Epoch ms after which it gives up (returns the last failure). */
  deadline: number;
  signal?: AbortSignal;
  onFailure?: (r: Exclude<ProbeResult, 'accepting'>) => void;
}

/** Probes until the port accepts ('accepting') or the deadline passes (the last failure). */
export async function untilAccepting(host: string, port: number, o: AcceptingOptions): Promise<ProbeResult> {
  const interval = o.intervalMs ?? 100;
  let last: ProbeResult = 'timeout';
  for (;;) {
    const left = o.deadline - Date.now();
    if (left <= 0) return last;
    const started = Date.now();
    const r = await probeTcp(host, port, Math.max(50, Math.min(o.probeTimeoutMs ?? 1_000, left)), o.signal);
    if (r === 'accepting') return r;
    last = r;
    o.onFailure?.(r);
    if (Date.now() >= o.deadline) return r;
    const wait = interval - (Date.now() - started);
    if (wait > 0) await delay(wait, undefined, o.signal ? { signal: o.signal } : {});
  }
}
