// When to list again. Listing costs API quota (DigitalOcean 5,000/h, Hetzner 3,600/h per token), so the tree polls
// fast only while something is changing, slowly otherwise, not at all when nobody looks, and backs off on errors.

export interface PollInput {
  /** A machine is being created or destroyed, or an action of ours awaits confirmation by a list. */
  inTransition: boolean;
  /** The Machines view is visible (or something else, like the status bar's countdown, needs fresh data). */
  visible: boolean;
  /** Consecutive refreshes that failed for at least one provider. */
  failures: number;
}

export const POLL = {
  fastMs: 4_000,
  slowMs: 60_000,
  maxBackoffMs: 5 * 60_000,
} as const;

/** Milliseconds until the next list, or undefined to stay paused until something asks for a refresh. */
export function pollDelay(input: PollInput, p: { fastMs: number; slowMs: number; maxBackoffMs: number } = POLL): number | undefined {
  if (!input.visible && !input.inTransition) return undefined;
  if (input.failures > 0) {
    // Exponential from the normal pace, capped: a dead network or a revoked token is not hammered.
    const base = input.inTransition ? p.fastMs : Math.min(p.slowMs, 15_000);
    return Math.min(p.maxBackoffMs, base * 2 ** Math.min(input.failures, 10));
  }
  return input.inTransition ? p.fastMs : p.slowMs;
}
