// What Run Toplevel keeps per window: the panel models of its runs (by run id), the runs in progress, the boot-log
// channels, the machine panels and the key janitor. Built on first use (or at activation: `runsOf(ctx)`), owned by
// the extension's subscriptions.

import * as vscode from 'vscode';
import type { Ctx } from '../commands/context';
import { BootLogViews } from './bootLog';
import { KeyJanitor } from './keyJanitor';
import { MachinePanels } from './machinePanel';
import { machinesOf } from './machines';
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
  readonly janitor: KeyJanitor;
  /** The ssh config file each Remote-SSH Host entry was written to, by alias (removed from there when gone). */
  readonly sshEntries: Map<string, string>;
}

const registry = new WeakMap<Ctx, Runs>();

export function runsOf(ctx: Ctx): Runs {
  const existing = registry.get(ctx);
  if (existing) return existing;
  const machines = machinesOf(ctx);
  const models = new Map<string, PanelModel>();
  const active = new Set<string>();
  const bootLogs = new BootLogViews({ command: DEFAULT_BOOT_LOG_COMMAND });
  const panels = new MachinePanels({
    extensionUri: ctx.extension.extensionUri,
    machines,
    storageDir: ctx.storageDir,
    runModel: (m) => (m.runId ? models.get(m.runId) : undefined),
    bootLogCommand: DEFAULT_BOOT_LOG_COMMAND,
  });
  const runs: Runs = {
    models,
    active,
    bootLogs,
    panels,
    sshEntries: new Map(),
    janitor: new KeyJanitor({
      service: machines.service,
      storageDir: ctx.storageDir,
      busy: () => active,
      managedSshConfig: (name) => runs.sshEntries.get(name),
      onGone: (m) => {
        bootLogs.close(m.name);
        runs.sshEntries.delete(m.name);
        if (!m.runId) return;
        models.get(m.runId)?.update({ gone: true });
        models.delete(m.runId); // an open panel keeps its model
      },
      log: (message) => void ctx.log('info', message),
    }),
  };
  registry.set(ctx, runs);
  ctx.extension.subscriptions.push(
    new vscode.Disposable(() => {
      registry.delete(ctx);
      runs.janitor.dispose();
      panels.dispose();
      bootLogs.dispose();
    }),
  );
  return runs;
}
