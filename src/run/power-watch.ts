// While the run waits on a machine over SSH, the cloud is asked now and then whether the machine powered itself off
// (a binary that finished, a shutdown mid-boot): then the wait stops at once instead of running into SSH timeouts
// against a machine that will never answer again. Shared by the SSH wait and the boot log of one run's ports.

import { setTimeout as delay } from 'node:timers/promises';
import type { CloudProvider } from '../providers/types';

export interface PowerWatch {
  /** Addresses of machines seen powered off. */
  readonly poweredOff: ReadonlySet<string>;
  /**
   * Runs `body` while polling the cloud: when the machine at `ip` is off, `body`'s signal aborts and this resolves
   * with 'off' instead.
   */
  unlessPoweredOff<T>(ip: string, signal: AbortSignal, body: (s: AbortSignal) => Promise<T>): Promise<T | 'off'>;
}

export function powerWatch(provider: Pick<CloudProvider, 'list'>, pollMs = 10_000): PowerWatch {
  const poweredOff = new Set<string>();
  return {
    poweredOff,
    async unlessPoweredOff(ip, signal, body) {
      const stop = new AbortController();
      const both = AbortSignal.any([signal, stop.signal]);
      const watch = (async () => {
        while (!both.aborted) {
          await delay(pollMs, undefined, { signal: both }).catch(() => undefined);
          if (both.aborted) return;
          const list = await provider.list(both).catch(() => undefined);
          const m = list?.machines.find((x) => x.ipv4 === ip || x.ipv6 === ip);
          if (m?.status === 'off') {
            poweredOff.add(ip);
            stop.abort();
          }
        }
      })();
      try {
        return await body(both);
      } catch (err) {
        if (poweredOff.has(ip) && !signal.aborted) return 'off';
        throw err;
      } finally {
        stop.abort();
        await watch;
      }
    },
  };
}
