// Registers the command table; every failure ends as one readable message, never a stack trace.

import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import { COMMANDS } from './index';
import { fixButton } from './fix-button';
import { messageOf, UserError, isAbort } from '../base/errors';

export function registerCommands(ctx: Ctx): vscode.Disposable[] {
  return Object.entries(COMMANDS).map(([id, handler]) =>
    vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        return await handler(ctx, ...args);
      } catch (err) {
        if (isAbort(err)) return undefined;
        await report(ctx, id, err);
        return undefined;
      }
    }),
  );
}

async function report(ctx: Ctx, id: string, err: unknown): Promise<void> {
  const secrets = await ctx.tokens.all();
  const text = messageOf(err, secrets);
  await ctx.log('error', `${id}: ${text}${err instanceof UserError && err.detail ? `\n${err.detail}` : ''}`);
  const button = fixButton(err instanceof UserError ? err.fix : undefined);
  const picked = await vscode.window.showErrorMessage(`Thebacknd: ${text}`, ...(button ? [button.label] : []), 'Show Log');
  if (button && picked === button.label) await vscode.commands.executeCommand(button.command, ...(button.args ?? []));
  else if (picked === 'Show Log') ctx.output.show(true);
}
