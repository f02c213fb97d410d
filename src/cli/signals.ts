// A CLI command's cancel: io.signal (tests, callers), or any of the signals that end a terminal job. SIGINT is
// Ctrl-C; SIGTERM is what a CI job timeout, `kill` or systemd sends; SIGHUP a closed terminal or SSH session;
// SIGQUIT Ctrl-\. All four clean up the same way (destroy what was created), then exit 128 + the signal's number,
// as a shell reports a process the signal ended.
import { constants } from 'node:os';

export const CANCEL_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;
export type CancelSignal = (typeof CANCEL_SIGNALS)[number];

export interface Cancel {
  signal: AbortSignal;
  /** 130 for Ctrl-C or io.signal, 143 for SIGTERM, 129 for SIGHUP, 131 for SIGQUIT. */
  exitCode(): number;
  dispose(): void;
}

/** Starts listening; `dispose` stops. Without `outer`, the process signals cancel. */
export function cancelOn(outer: AbortSignal | undefined): Cancel {
  const ctl = new AbortController();
  let received: CancelSignal | undefined;
  const onOuter = (): void => ctl.abort();
  const handlers = new Map<CancelSignal, () => void>();
  if (outer?.aborted) ctl.abort();
  outer?.addEventListener('abort', onOuter, { once: true });
  if (!outer) {
    for (const sig of CANCEL_SIGNALS) {
      const h = (): void => {
        received ??= sig;
        ctl.abort();
      };
      handlers.set(sig, h);
      process.on(sig, h);
    }
  }
  return {
    signal: ctl.signal,
    exitCode: () => 128 + (received ? constants.signals[received] : constants.signals.SIGINT),
    dispose() {
      outer?.removeEventListener('abort', onOuter);
      for (const [sig, h] of handlers) process.removeListener(sig, h);
    },
  };
}
