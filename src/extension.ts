// Composition root: builds the app object (src/views/app.ts) in a fixed order, registers the commands, and hands the
// one owner of every disposable to VS Code, which disposes it on deactivation (everything in reverse). Nothing else.

import * as vscode from 'vscode';
import { registerCommands } from './commands/register';
import { trackAccounts } from './views/accounts';
import type { Ctx } from './views/app';
import { Owner } from './views/owner';
import { createDeployState } from './views/deploys';
import { createMachines } from './views/machines';
import type { MachinesTree } from './views/machinesTree';
import { createRuns, startKeyJanitor } from './views/runs';
import { createServices } from './views/services';

/** What the extension exports: the Machines tree, for the integration tests that run inside VS Code. */
export interface ThebackndApi {
  readonly machinesTree: MachinesTree;
}

/** Set by activate: cancels runs and worker builds still going and waits for their cleanup. */
let shutdown: (() => Promise<void>) | undefined;

export function activate(extension: vscode.ExtensionContext): ThebackndApi {
  const owner = new Owner((err) => console.error('Thebacknd: a dispose failed', err));
  extension.subscriptions.push(owner);
  const services = createServices(extension, owner);
  const machines = createMachines(services); // the reaper and the countdown start here
  const runs = createRuns(services, machines);
  const janitor = startKeyJanitor(services, machines, runs);
  const ctx: Ctx = { ...services, machines, runs, janitor, deploys: owner.own(createDeployState()) };
  owner.own(trackAccounts(ctx));
  for (const d of registerCommands(ctx)) owner.own(d);
  shutdown = () => ctx.lifetime.shutdown();
  void ctx.log('info', `Thebacknd ${extension.extension.packageJSON.version as string} activated.`);
  return { machinesTree: machines.tree };
}

export function deactivate(): Promise<void> | undefined {
  // VS Code awaits this before disposing the owner: runs and workers first destroy their machines.
  return shutdown?.();
}
