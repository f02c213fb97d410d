// Which machines the reaper (and `thebacknd destroy-old`) destroys, and why. Pure: no clock of its own, no I/O.
// Time is the provider's: the list answer's `serverTime`, moved forward by however long ago that answer came (the
// local clock only measures that interval, so a wrong local clock does not shift any decision).

import type { Machine } from '../providers/types';
import { lifetimeCap, MAX_LIFETIME_MS } from '../machines/deadline';

/**
 * The deadline the reaper honours, in ms: the machine's own, capped at creation + MAX_LIFETIME_MS (`tampered`
 * then), or undefined when the machine has no readable deadline.
 */
export function honouredDeadline(m: Pick<Machine, 'deadline' | 'createdAt'>): { at: number; tampered: boolean } | undefined {
  const deadline = m.deadline ? Date.parse(m.deadline) : NaN;
  if (Number.isNaN(deadline)) return undefined;
  const cap = lifetimeCap(m.createdAt);
  return deadline > cap ? { at: cap, tampered: true } : { at: deadline, tampered: false };
}

export type ReapReason = 'deadline' | 'off' | 'age';

export interface ReapDecision {
  machine: Machine;
  reason: ReapReason;
  /** One line for a log or the CLI. */
  why: string;
}

export interface ReapInput {
  machines: readonly Machine[];
  /** `ListResult.serverTime` of the list the machines came from. */
  serverTime: Date;
  /** Local time when that list was answered, and local time now; only their difference is used. Default: equal. */
  listedAt?: Date;
  now?: Date;
  /** For machines with no deadline (created by hand, or before deadlines existed): the age that makes them old. */
  maxAgeMinutes: number;
}

export function decideReaping(input: ReapInput): ReapDecision[] {
  const elapsed = input.listedAt && input.now ? Math.max(0, input.now.getTime() - input.listedAt.getTime()) : 0;
  const now = input.serverTime.getTime() + elapsed;
  const out: ReapDecision[] = [];
  for (const m of input.machines) {
    // Untagged machines are never ours to destroy; machines already going need nothing.
    if (m.tagged === false || m.status === 'destroying') continue;
    const honoured = honouredDeadline(m);
    const deadline = honoured?.at ?? NaN;
    if (honoured?.tampered && deadline <= now) {
      out.push({
        machine: m,
        reason: 'deadline',
        why: `${m.name}: its deadline tag (${m.deadline}) is beyond what Extend allows; honoured up to ${minutes(MAX_LIFETIME_MS)} after creation, ${minutes(now - deadline)} ago`,
      });
    } else if (!Number.isNaN(deadline) && deadline <= now) {
      out.push({ machine: m, reason: 'deadline', why: `${m.name}: deadline passed ${minutes(now - deadline)} ago` });
    } else if (m.status === 'off') {
      // The machine powers itself off when its job ends (destroy-self without a token in the VM).
      out.push({ machine: m, reason: 'off', why: `${m.name}: powered off` });
    } else if (Number.isNaN(deadline)) {
      const created = Date.parse(m.createdAt);
      const age = now - created;
      if (!Number.isNaN(created) && age >= input.maxAgeMinutes * 60_000) {
        out.push({ machine: m, reason: 'age', why: `${m.name}: no deadline and ${minutes(age)} old (max ${input.maxAgeMinutes} min)` });
      }
    }
  }
  return out;
}

/**
 * Machines that repeat another machine's run id: a create the cloud processed after its client had given up and
 * created again (a window can only clean that up at once when the duplicate is already visible). All but the oldest
 * of each run go; untagged machines never. A run id is only a tag, which a foreign machine can copy: `known`
 * ("provider:id" of the machines that local run state or a run's own create answer names) are never returned, and
 * one of them is the run's keeper.
 */
export function duplicateRuns(machines: readonly Machine[], known: ReadonlySet<string> = new Set()): { machine: Machine; duplicateOf: Machine; why: string }[] {
  const byRun = new Map<string, Machine[]>();
  for (const m of machines) {
    if (!m.runId || m.tagged === false || m.status === 'destroying') continue;
    byRun.set(m.runId, [...(byRun.get(m.runId) ?? []), m]);
  }
  const out: { machine: Machine; duplicateOf: Machine; why: string }[] = [];
  for (const group of byRun.values()) {
    if (group.length < 2) continue;
    const isKnown = (m: Machine): boolean => known.has(`${m.provider}:${m.id}`);
    const [first, ...rest] = [...group].sort((a, b) => Number(isKnown(b)) - Number(isKnown(a)) || Date.parse(a.createdAt) - Date.parse(b.createdAt) || Number(a.id) - Number(b.id));
    for (const m of rest.filter((x) => !isKnown(x))) out.push({ machine: m, duplicateOf: first!, why: `${m.name}: a duplicate of ${first!.name} (same run id)` });
  }
  return out;
}

/**
 * What one pass destroys on one provider's list: the policy's decisions, then duplicated runs it did not already
 * pick. `thebacknd destroy-old` and the cloud reaper's destroy-old use this, so both reap exactly alike.
 */
export function reapTargets(input: ReapInput, known: ReadonlySet<string> = new Set()): { machine: Machine; why: string; reason: ReapReason | 'duplicate' }[] {
  const decided = decideReaping(input);
  const dupes = duplicateRuns(input.machines, known).filter((d) => !decided.some((x) => x.machine.id === d.machine.id));
  return [...decided, ...dupes.map((d) => ({ machine: d.machine, why: d.why, reason: 'duplicate' as const }))];
}

/** When the next decision can change, for a timer: the earliest future deadline (or no-deadline age limit). */
export function nextReapAt(input: ReapInput): Date | undefined {
  const elapsed = input.listedAt && input.now ? Math.max(0, input.now.getTime() - input.listedAt.getTime()) : 0;
  const now = input.serverTime.getTime() + elapsed;
  let next = Infinity;
  for (const m of input.machines) {
    if (m.tagged === false || m.status === 'destroying') continue;
    const deadline = honouredDeadline(m)?.at ?? Date.parse(m.createdAt) + input.maxAgeMinutes * 60_000;
    if (!Number.isNaN(deadline) && deadline > now) next = Math.min(next, deadline);
  }
  // Back to the local clock the caller's timer runs on.
  return Number.isFinite(next) ? new Date(next - input.serverTime.getTime() + (input.listedAt ?? input.serverTime).getTime()) : undefined;
}

function minutes(ms: number): string {
  const m = Math.round(ms / 60_000);
  return m < 120 ? `${m} min` : `${Math.round(m / 60)} h`;
}
