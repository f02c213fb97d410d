// How often a run asks the cloud whether its machine is running: fast at first (a create that is running at once,
// a quick Hetzner start), then backing off to a ceiling that keeps one waiting run to a small share of the token's
// rate limit, so that several windows, the reaper and the Machines view can poll the same account at once.
//   DigitalOcean: 5,000 requests/hour and 250/minute per token (docs.digitalocean.com/reference/api/#rate-limit).
//   Hetzner Cloud: 3,600 requests/hour per project, refilled at one per second (docs.hetzner.cloud/#rate-limiting).
// The SSH wait that follows probes the address itself (no API call), so the ceiling costs no readiness: a machine
// answers SSH several seconds after the API first calls it running.

import type { ProviderId } from '../providers/types';

export interface Pace {
  firstMs: number;
  factor: number;
  maxMs: number;
  /** The provider's limits this pace is held to (requests per hour and per minute). */
  limits: { perHour: number; perMinute?: number };
}

export const RUNNING_PACE: Record<ProviderId, Pace> = {
  // At the 3 s ceiling one waiting run makes 1,200 requests/hour (24 % of 5,000) and 20/minute (8 % of 250).
  digitalocean: { firstMs: 250, factor: 1.5, maxMs: 3_000, limits: { perHour: 5_000, perMinute: 250 } },
  // At the 5 s ceiling: 720 requests/hour (20 % of 3,600).
  hetzner: { firstMs: 250, factor: 1.5, maxMs: 5_000, limits: { perHour: 3_600 } },
};

/** The pause before the n-th poll (n from 0). */
export function pollDelayMs(pace: Pace, n: number): number {
  return Math.min(pace.maxMs, Math.round(pace.firstMs * pace.factor ** Math.max(0, n)));
}

/** How many polls the pace makes in its first `windowMs` (for the rate-limit check). */
export function pollsWithin(pace: Pace, windowMs: number): number {
  let t = 0;
  let n = 0;
  for (;;) {
    t += pollDelayMs(pace, n);
    if (t > windowMs) return n;
    n++;
  }
}
