// Everything about the user's machines, built in order and disposed in reverse: the machine service (no cloud
// client is loaded until its first list), the tree and its view, the refresh manager, the status-bar countdown and
// the reaper. The commands reach these through `machinesOf(ctx)`.

import * as vscode from 'vscode';
import * as path from 'node:path';
import type { Ctx } from '../commands/context';
import { MachineService } from '../machines/service';
import { Lease } from '../reaper/lease';
import { DEFAULT_TICK_MS, Reaper } from '../reaper/reaper';
import { MachinesTree, type Node } from './machinesTree';
import { RefreshManager } from './refreshManager';
import { CountdownStatusBar } from './statusBar';
import { createReaperView, type ReaperView } from './reaperRows';

export interface Machines {
  readonly service: MachineService;
  readonly tree: MachinesTree;
  readonly view: vscode.TreeView<Node>;
  readonly refresh: RefreshManager;
  readonly statusBar: CountdownStatusBar;
  readonly reaper: Reaper;
  /** What reaps while VS Code is closed (the cloud reaper, local timers), cached for a reaper period. */
  readonly reaperView: ReaperView;
}

const registry = new WeakMap<Ctx, Machines>();

/** The machines UI of this window; commands get it from their ctx. */
export function machinesOf(ctx: Ctx): Machines {
  const m = registry.get(ctx);
  if (!m) throw new Error('The machines view is not initialised.');
  return m;
}

export function createMachines(ctx: Ctx): Machines & vscode.Disposable {
  const maxAge = () => ctx.settings().maxAgeMinutes;
  const service = new MachineService({
    tokens: ctx.tokens,
    settings: () => ctx.settings(),
    // Loaded on the first list, not at activation: the cloud clients and their dependencies are the heavy part.
    createProvider: async (id, opts) => (await import('../providers/index')).createProvider(id, opts),
  });
  const reaperView = createReaperView(ctx, service);
  const tree = new MachinesTree(service, maxAge, reaperView);
  const view = vscode.window.createTreeView('thebacknd.machines', { treeDataProvider: tree, showCollapseAll: false, canSelectMany: true });
  const report = (err: unknown) => void ctx.log('warn', `Listing machines failed: ${err instanceof Error ? err.message : String(err)}`);
  const refresh = new RefreshManager(service, view, report);
  const statusBar = new CountdownStatusBar(service, maxAge, reaperView);
  const reaper = new Reaper({
    service,
    lease: new Lease(path.join(ctx.storageDir, 'reaper'), { ttlMs: 3 * DEFAULT_TICK_MS }),
    intervalMs: () => ctx.settings().reapIntervalMinutes * 60_000,
    maxAgeMinutes: maxAge,
    log: (level, message) => void ctx.log(level, message),
  });

  tree.setVisible(view.visible);
  const subs: vscode.Disposable[] = [
    view.onDidChangeVisibility((e) => tree.setVisible(e.visible)),
    ctx.onDidChangeAccounts(() => void service.reconfigure().catch(report)),
  ];
  const machines: Machines = { service, tree, view, refresh, statusBar, reaper, reaperView };
  registry.set(ctx, machines);

  // The reaper's first pass then reuses this first list instead of making its own.
  void service
    .reconfigure()
    .catch(report)
    .finally(() => reaper.start());

  const parts: { dispose(): unknown }[] = [reaperView, tree, view, refresh, statusBar, reaper, ...subs];
  return {
    ...machines,
    dispose() {
      registry.delete(ctx);
      for (const p of parts.reverse()) void p.dispose();
    },
  };
}
