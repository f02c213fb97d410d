// The reaper inside the extension: destroys tagged machines past their deadline and tagged machines that powered
// themselves off. vscode-free; the extension gives it the machine service, a lease directory and a logger.
//
// Every window runs one, but only the holder of the lease reaps (see lease.ts). A tick every `tickMs` renews the
// lease and starts a pass when one is due: `reapIntervalMinutes` after the last pass by any window, or as soon as the
// machines already listed show one to reap (so a machine does not outlive its deadline by a whole period when the
// tree has seen it expire). A pass lists every provider once, applies the policy (reaper-policy.ts) on the
// provider's clock, destroys, and logs each reaping with the machine's name and the reason.

import type { Machine } from '../providers/types';
import { decideReaping, type ReapDecision } from './policy';
import type { Lease } from './lease';
import type { MachineService } from '../machines/service';
import { messageOf } from '../base/errors';
import { PROVIDER_LABEL, PROVIDERS } from '../base/tokens';

export type Log = (level: 'info' | 'warn' | 'error', message: string) => void;

export interface Reaping {
  machine: Machine;
  reason: ReapDecision['reason'];
  why: string;
  /** Set when the destroy failed (the next pass tries again). */
  error?: string;
}

export interface ReaperOptions {
  service: Pick<MachineService, 'refresh' | 'lastList' | 'machines' | 'destroy' | 'failedProviders' | 'provider' | 'serverNow'>;
  lease: Lease;
  /** Read on every tick, so a settings change applies at once. */
  intervalMs: () => number;
  maxAgeMinutes: () => number;
  log: Log;
  /** How often to renew the lease and check whether a pass is due. */
  tickMs?: number;
  /** Local clock, injectable for tests. */
  now?: () => number;
}

export const DEFAULT_TICK_MS = 30_000;

export class Reaper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<Reaping[]> | undefined;
  /** Whether this reaper held the lease at its last tick; undefined before the first, so that one is logged. */
  private holding: boolean | undefined;
  private disposed = false;

  constructor(private readonly o: ReaperOptions) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** Ticks now and then every tickMs, until disposed. */
  start(): void {
    if (this.timer || this.disposed) return;
    const tick = () => void this.tick().catch((err) => this.o.log('warn', `Reaper: the pass failed (${messageOf(err)}); retrying at the next tick.`));
    this.timer = setInterval(tick, this.o.tickMs ?? DEFAULT_TICK_MS);
    this.timer.unref?.();
    tick();
  }

  /** Whether this reaper held the lease at its last tick. */
  get isHolder(): boolean {
    return this.holding === true;
  }

  /**
   * Renews or takes the lease; when held and a pass is due, runs it. Returns the reapings of the pass it ran, or
   * undefined when it did not run one (another window holds the lease, or nothing is due).
   */
  async tick(): Promise<Reaping[] | undefined> {
    if (this.disposed) return undefined;
    let held;
    try {
      held = await this.o.lease.acquire();
    } catch (err) {
      this.o.log('warn', `Reaper: cannot use the lease file (${messageOf(err)}); this window will not reap.`);
      return undefined;
    }
    if (!!held !== this.holding) {
      // Logged on the first tick and on every change, so the Output channel says which window reaps.
      this.holding = !!held;
      this.o.log('info', held ? 'Reaper: this window now runs the reaper.' : 'Reaper: another window runs the reaper.');
    }
    if (!held || this.disposed) return undefined;
    const due = held.lastPassAt + this.o.intervalMs() <= this.now() || this.seenToReap().length > 0;
    if (!due) return undefined;
    // A list from the last few seconds (the one made at activation, or the tree's) is as good as a new one.
    const reapings = await this.pass({ maxAgeMs: 10_000 });
    await this.o.lease.recordPass(this.now()).catch(() => false);
    return reapings;
  }

  /** Decisions on the machines already listed, without a new list call (the due check). */
  private seenToReap(): ReapDecision[] {
    const out: ReapDecision[] = [];
    const destroying = new Set(
      this.o.service
        .machines()
        .filter((m) => m.status === 'destroying')
        .map((m) => `${m.provider}:${m.id}`),
    );
    for (const id of PROVIDERS) {
      const last = this.o.service.lastList(id);
      if (!last) continue;
      const decided = decideReaping({
        machines: last.result.machines.filter((m) => !destroying.has(`${m.provider}:${m.id}`)),
        serverTime: last.result.serverTime,
        listedAt: new Date(last.listedAt),
        now: new Date(this.now()),
        maxAgeMinutes: this.o.maxAgeMinutes(),
      });
      out.push(...decided);
    }
    return out;
  }

  /**
   * One pass, lease or not (Destroy Old calls it directly): lists every provider once (unless a list answered
   * within `maxAgeMs`), then destroys what the policy picks, on each provider's clock. A provider whose list failed is skipped: nothing is destroyed on stale data.
   */
  pass(opts: { maxAgeMs?: number } = {}): Promise<Reaping[]> {
    this.running ??= this.runPass(opts.maxAgeMs).finally(() => (this.running = undefined));
    return this.running;
  }

  private async runPass(maxAgeMs: number | undefined): Promise<Reaping[]> {
    await this.o.service.refresh(maxAgeMs === undefined ? { join: true } : { join: true, maxAgeMs });
    const failed = new Set(this.o.service.failedProviders());
    const decisions = this.seenToReap().filter((d) => !failed.has(d.machine.provider));
    const out: Reaping[] = [];
    for (const d of decisions) {
      const m = d.machine;
      const where = `${PROVIDER_LABEL[m.provider]}, id ${m.id}`;
      try {
        // The list can be seconds old and another window may have extended the machine since: read its deadline
        // again, and destroy only if the policy still says so.
        const fresh = await (await this.o.service.provider(m.provider)).get(m.id);
        const still = fresh && decideReaping({ machines: [fresh], serverTime: new Date(this.o.service.serverNow(m.provider)), maxAgeMinutes: this.o.maxAgeMinutes() })[0];
        if (!still) {
          this.o.log('info', `Reaper: kept ${m.name} (${where}): ${fresh ? 'its deadline was moved since the list' : 'it is already gone'}.`);
          continue;
        }
        await this.o.service.destroy(m);
        this.o.log('info', `Reaper: destroyed ${m.name} (${where}): ${reasonText(d)}.`);
        out.push({ machine: m, reason: d.reason, why: d.why });
      } catch (err) {
        const msg = messageOf(err);
        this.o.log('warn', `Reaper: could not destroy ${m.name} (${where}, ${reasonText(d)}): ${msg} It will be retried at the next pass.`);
        out.push({ machine: m, reason: d.reason, why: d.why, error: msg });
      }
    }
    for (const p of failed) this.o.log('warn', `Reaper: skipped ${PROVIDER_LABEL[p]}: its machines could not be listed.`);
    return out;
  }

  /** Stops ticking and hands the lease over (keeping the time of the last pass for the next holder). */
  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
    if (this.holding) await this.o.lease.release().catch(() => undefined);
    this.holding = undefined;
  }
}

export function reasonText(d: Pick<ReapDecision, 'reason' | 'why'>): string {
  // `why` starts with the machine's name, which the log line already carries.
  const detail = d.why.replace(/^[^:]*:\s*/, '');
  switch (d.reason) {
    case 'deadline':
      return detail;
    case 'off':
      return 'it powered itself off (its job ended)';
    case 'age':
      return detail;
  }
}
