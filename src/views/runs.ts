// What Run Toplevel keeps per window: the panel models of its runs (by run id), the runs in progress, the boot-log
// channels and the machine panels; and the key janitor (src/ssh/key-janitor.ts) wired to close what a gone
// machine leaves open. Built at activation, owned by the app.

import { KeyJanitor } from '../ssh/key-janitor';
import type { Services } from './services';
import { BootLogViews } from './bootLog';
import { MachinePanels } from './machinePanel';
import type { Machines } from './machines';
import type { PanelModel } from './panelModel';

/**
 * How the boot log is read on a machine: the agent's own log file, which holds both of its phases and the output
 * of the switch or the program, and which the test hosts (no journald) have too. Replayed from the start, so a
 * reconnect skips what was shown.
 */
import { DEFAULT_BOOT_LOG_COMMAND } from '../ssh/boot-log';

export interface Runs {
  readonly models: Map<string, PanelModel>;
  /** Run ids of runs in progress in this window. */
  readonly active: Set<string>;
  readonly bootLogs: BootLogViews;
  readonly panels: MachinePanels;
  /** The ssh config file each Remote-SSH Host entry was written to, by alias (removed from there when gone). */
  readonly sshEntries: Map<string, string>;
}

export function createRuns(ctx: Services, machines: Machines): Runs {
  const models = new Map<string, PanelModel>();
  const bootLogs = ctx.own(new BootLogViews({ command: DEFAULT_BOOT_LOG_COMMAND }));
  const panels = ctx.own(
    new MachinePanels({
      extensionUri: ctx.extension.extensionUri,
      machines,
      storageDir: ctx.storageDir,
      runModel: (m) => (m.runId ? models.get(m.runId) : undefined),
      bootLogCommand: DEFAULT_BOOT_LOG_COMMAND,
    }),
  );
  return { models, active: new Set(), bootLogs, panels, sshEntries: new Map() };
}

/** Keys of machines gone (however they went) are removed; their boot log and run model go with them. */
export function startKeyJanitor(ctx: Services, machines: Machines, runs: Runs): KeyJanitor {
  return ctx.own(
    new KeyJanitor({
      service: machines.service,
      storageDir: ctx.storageDir,
      busy: () => runs.active,
      managedSshConfig: (name) => runs.sshEntries.get(name),
      onGone: (m) => {
        runs.bootLogs.close(m.name);
        runs.sshEntries.delete(m.name);
        if (!m.runId) return;
        runs.models.get(m.runId)?.update({ gone: true });
        runs.models.delete(m.runId); // an open panel keeps its model
      },
      log: (message) => void ctx.log('info', message),
    }),
  );
}
