// Composition root: builds the services in a fixed order, registers the UI, and owns every disposable through
// the extension's subscriptions (disposed in reverse on deactivation). Nothing else lives here.

import * as vscode from 'vscode';
import { createCtx } from './commands/context';
import { registerCommands } from './commands/register';
import { trackAccounts } from './views/accounts';
import { MachinesTree } from './views/machinesTree';

export function activate(extension: vscode.ExtensionContext): void {
  const ctx = createCtx(extension);
  const tree = new MachinesTree(ctx);
  extension.subscriptions.push(
    tree,
    vscode.window.createTreeView('thebacknd.machines', { treeDataProvider: tree, showCollapseAll: false, canSelectMany: true }),
    trackAccounts(ctx),
    ...registerCommands(ctx),
  );
  void ctx.log('info', `Thebacknd ${extension.extension.packageJSON.version as string} activated.`);
}

export function deactivate(): void {
  // Everything is disposed through extension.subscriptions.
}
