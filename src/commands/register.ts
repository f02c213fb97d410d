// Registers the command table; every failure ends as one readable message, never a stack trace.

import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import { COMMANDS } from './index';
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
  const fix = err instanceof UserError ? err.fix : undefined;
  const fixLabel = fix?.kind === 'runCommand' && fix.command ? (fix.label ?? 'Fix') : undefined;
  const actions = fix?.kind === 'setToken' ? ['Set Token…'] : fix?.kind === 'openSettings' ? ['Open Settings'] : fixLabel ? [fixLabel] : [];
  const picked = await vscode.window.showErrorMessage(`Thebacknd: ${text}`, ...actions, 'Show Log');
  if (picked !== undefined && picked === fixLabel) await vscode.commands.executeCommand(fix!.command!);
  else if (picked === 'Set Token…') await vscode.commands.executeCommand(fix?.provider === 'hetzner' ? 'thebacknd.setHetznerToken' : 'thebacknd.setDigitalOceanToken');
  else if (picked === 'Open Settings') await vscode.commands.executeCommand('workbench.action.openSettings', fix?.setting ?? 'thebacknd');
  else if (picked === 'Show Log') ctx.output.show(true);
}
