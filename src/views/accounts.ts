// Keeps the `thebacknd.hasToken` context key true while any provider has a token, which switches the
// Machines view between its welcome content and the machine list.

import * as vscode from 'vscode';
import type { Services } from './services';

export function trackAccounts(ctx: Services): vscode.Disposable {
  const update = async () => {
    const configured = await ctx.tokens.configured();
    await vscode.commands.executeCommand('setContext', 'thebacknd.hasToken', configured.length > 0);
  };
  void update();
  const subs = [
    ctx.onDidChangeAccounts(update),
    ctx.extension.secrets.onDidChange((e) => e.key.startsWith('thebacknd.token.') && ctx.accountsChanged()),
    vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('thebacknd') && ctx.accountsChanged()),
  ];
  return vscode.Disposable.from(...subs);
}
