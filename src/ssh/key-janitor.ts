// Removes a machine's keys (and its Remote-SSH host entry) once the machine is gone, however it went: Destroy in the
// tree or the panel, Destroy All, the reaper, another window. Only a machine this window saw alive and then saw
// missing from a successful list of the same provider counts as gone, so a failed list, a removed token or a run
// still creating its machine never costs anyone their keys. No UI here: views/ wires what a gone machine closes.

import type { Machine, ProviderId } from '../providers/types';
import { removeMachineKeys } from './keys';
import { removeHostEntry } from './remote-ssh-config';

/** What the janitor reads of the machine listing (src/machines/service.ts's MachineService). */
export interface MachineListing {
  onDidChange(listener: () => void): { dispose(): void };
  snapshot(): readonly { id: ProviderId; loaded: boolean; error: unknown; tokenSource: string | undefined; machines: readonly Machine[] }[];
  machines(): readonly Machine[];
}

export interface KeyJanitorDeps {
  service: MachineListing;
  storageDir: string;
  /** Run ids whose run is still in progress here (its own cleanup handles them). */
  busy: () => ReadonlySet<string>;
  /** The ssh config file a machine's Remote-SSH Host entry was written to; default ~/.ssh/thebacknd_config. */
  managedSshConfig?: (name: string) => string | undefined;
  onGone?: (m: Machine) => void;
  log: (message: string) => void;
}

export class KeyJanitor {
  /** Machines with a run id seen alive, per provider, by run id. */
  private readonly seen = new Map<ProviderId, Map<string, Machine>>();
  private readonly sub: { dispose(): void };
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly deps: KeyJanitorDeps) {
    this.sub = deps.service.onDidChange(() => this.check());
    this.check();
  }

  private check(): void {
    const gone: Machine[] = [];
    for (const p of this.deps.service.snapshot()) {
      if (!p.loaded || p.error || !p.tokenSource) continue;
      const now = new Map(p.machines.filter((m) => m.runId).map((m) => [m.runId!, m]));
      const before = this.seen.get(p.id) ?? new Map<string, Machine>();
      for (const [runId, m] of before) if (!now.has(runId) && !this.deps.busy().has(runId)) gone.push(m);
      this.seen.set(p.id, now);
    }
    if (!gone.length) return;
    const names = new Set(this.deps.service.machines().map((m) => m.name));
    this.chain = this.chain.then(() => this.clean(gone, names));
  }

  private async clean(gone: Machine[], liveNames: Set<string>): Promise<void> {
    for (const m of gone) {
      try {
        await removeMachineKeys(this.deps.storageDir, m.runId!);
        // The alias is the name, which a new machine may already carry: leave its entry alone then.
        const managed = this.deps.managedSshConfig?.(m.name);
        if (!liveNames.has(m.name)) await (managed ? removeHostEntry(m.name, managed) : removeHostEntry(m.name));
        this.deps.log(`${m.name} is gone: removed its SSH keys from this computer.`);
      } catch (err) {
        this.deps.log(`Could not remove the keys of ${m.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.deps.onGone?.(m);
    }
  }

  /** Resolves once every removal decided so far has finished (tests). */
  settled(): Promise<void> {
    return this.chain;
  }

  dispose(): void {
    this.sub.dispose();
  }
}
