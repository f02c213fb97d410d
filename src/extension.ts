// Composition root: builds the services in a fixed order, registers the UI, and owns every disposable through
// the extension's subscriptions (disposed in reverse on deactivation). Nothing else lives here.

import * as vscode from 'vscode';
import { createCtx } from './commands/context';
import { registerCommands } from './commands/register';
import { trackAccounts } from './views/accounts';
import { createMachines } from './views/machines';
import { runsOf } from './views/runs';
import type { MachinesTree } from './views/machinesTree';

/** What the extension exports: the Machines tree, for the integration tests that run inside VS Code. */
export interface ThebackndApi {
  readonly machinesTree: MachinesTree;
}

/** Set by activate: cancels runs and worker builds still going and waits for their cleanup. */
let shutdown: (() => Promise<void>) | undefined;

export function activate(extension: vscode.ExtensionContext): ThebackndApi {
  const ctx = createCtx(extension);
  shutdown = () => ctx.lifetime.shutdown();
  const machines = createMachines(ctx);
  runsOf(ctx); // starts the key janitor: keys of machines gone elsewhere are removed
  extension.subscriptions.push(machines, trackAccounts(ctx), ...registerCommands(ctx));
  void ctx.log('info', `Thebacknd ${extension.extension.packageJSON.version as string} activated.`);
  return { machinesTree: machines.tree };
}

export function deactivate(): Promise<void> | undefined {
  // Everything else is disposed through extension.subscriptions; runs and workers first destroy their machines.
  return shutdown?.();
}
