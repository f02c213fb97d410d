// Everything about the user's machines, built in order and disposed in reverse: the machine service (no cloud
// client is loaded until its first list), the tree and its view, the refresh manager, the status-bar countdown and
// the reaper. Every part is handed to the app's owner as it is built; commands reach them as `ctx.machines`.

import * as vscode from 'vscode';
import * as path from 'node:path';
import { ListingLog } from '../machines/listing-log';
import { MachineService } from '../machines/service';
import { Lease } from '../reaper/lease';
import { DEFAULT_TICK_MS, Reaper } from '../reaper/reaper';
import { MachinesTree, type Node } from './machinesTree';
import { RefreshManager } from './refreshManager';
import { CountdownStatusBar } from './statusBar';
import { createReaperView, type ReaperView } from './reaperRows';
import type { Services } from './services';

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

export function createMachines(ctx: Services): Machines {
  const maxAge = () => ctx.settings().maxAgeMinutes;
  const service = new MachineService({
    tokens: ctx.tokens,
    settings: () => ctx.settings(),
    // Loaded on the first list, not at activation: the cloud clients and their dependencies are the heavy part.
    createProvider: async (id, opts) => (await import('../providers/index')).createProvider(id, opts),
  });
  const reaperView = ctx.own(createReaperView(ctx, service));
  const tree = ctx.own(new MachinesTree(service, maxAge, reaperView));
  const view = ctx.own(vscode.window.createTreeView('thebacknd.machines', { treeDataProvider: tree, showCollapseAll: false, canSelectMany: true }));
  const report = (err: unknown) => void ctx.log('warn', `Listing machines failed: ${err instanceof Error ? err.message : String(err)}`);
  const refresh = ctx.own(new RefreshManager(service, view, report));
  const statusBar = ctx.own(new CountdownStatusBar(service, maxAge, reaperView));
  const reaper = ctx.own(
    new Reaper({
      service,
      lease: new Lease(path.join(ctx.storageDir, 'reaper'), { ttlMs: 3 * DEFAULT_TICK_MS }),
      intervalMs: () => ctx.settings().reapIntervalMinutes * 60_000,
      maxAgeMinutes: maxAge,
      log: (level, message) => void ctx.log(level, message),
    }),
  );

  // Why a provider's row says its list failed, once per reason, in the Output channel too.
  const listing = new ListingLog();
  ctx.own(service.onDidChange(() => listing.lines(service.snapshot()).forEach((l) => void ctx.log(l.level, l.text))));

  tree.setVisible(view.visible);
  ctx.own(view.onDidChangeVisibility((e) => tree.setVisible(e.visible)));
  ctx.own(ctx.onDidChangeAccounts(() => void service.reconfigure().catch(report)));

  // The reaper's first pass then reuses this first list instead of making its own.
  void service
    .reconfigure()
    .catch(report)
    .finally(() => reaper.start());

  return { service, tree, view, refresh, statusBar, reaper, reaperView };
}
