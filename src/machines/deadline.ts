// How far Extend may move a machine's deadline. The reaper honours a deadline only up to creation + the longest
// first deadline + the longest Extend (src/reaper/policy.ts calls a later one tampered), so Extend never writes one
// past that cap: the CLI and the extension both extend through extendedDeadline, and it refuses with what is left.

import { UserError } from '../base/errors';
import { BOUNDS } from '../base/settings';
import type { Machine } from '../providers/types';

/** The longest Extend offered (the extension's "Other…" allows a week). */
export const MAX_EXTEND_MINUTES = 7 * 24 * 60;
/**
 * Tags and labels can be written by anyone with the token (or a compromised machine's cloud account): the reaper
 * honours a deadline no later than creation + the longest first deadline + the longest Extend. Later is tampered.
 */
export const MAX_LIFETIME_MS = (BOUNDS.maxAgeMinutes.max + MAX_EXTEND_MINUTES) * 60_000;

/** creation + MAX_LIFETIME_MS, or NaN when the creation time is unreadable. */
export function lifetimeCap(createdAt: string): number {
  const created = Date.parse(createdAt);
  return Number.isNaN(created) ? NaN : created + MAX_LIFETIME_MS;
}

/**
 * max(now, deadline) + minutes: extending an overdue machine counts from now, not from the past deadline. A deadline
 * past the lifetime cap is refused (a UserError saying how many minutes are left), never written.
 */
export function extendedDeadline(m: Pick<Machine, 'name' | 'deadline' | 'createdAt'>, serverNowMs: number, minutes: number): Date {
  const d = m.deadline ? Date.parse(m.deadline) : NaN;
  const from = Number.isFinite(d) ? Math.max(serverNowMs, d) : serverNowMs;
  const to = from + Math.round(minutes * 60_000);
  const cap = lifetimeCap(m.createdAt);
  if (to > cap) {
    const days = MAX_LIFETIME_MS / 86_400_000;
    const until = new Date(cap).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const left = Math.floor((cap - from) / 60_000);
    const why = `the reaper destroys a machine no later than ${days} days after its creation (${m.name}: ${until})`;
    if (left < 1) throw new UserError(`${m.name} already has the longest lifetime allowed: ${why}. For longer work, create a new machine.`);
    throw new UserError(`Cannot extend ${m.name} by ${minutes} min: ${why}, so it can be extended by at most ${left} min. For longer work, create a new machine.`);
  }
  return new Date(to);
}
