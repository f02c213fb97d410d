// The table of every command the manifest declares, id → handler. extension.ts registers it in one loop, and a
// test checks it against package.json so that no declared command is left without a handler.

import * as vscode from 'vscode';
import type { Ctx } from './context';
import { setToken } from './tokens';

export type Handler = (ctx: Ctx, ...args: unknown[]) => unknown;

/** A capability not built in this version says so plainly rather than pretending to work. */
const notBuilt = (what: string): Handler => () =>
  vscode.window.showWarningMessage(`Thebacknd: ${what} is not available in this version yet.`);

export const COMMANDS: Record<string, Handler> = {
  'thebacknd.runToplevel': notBuilt('Run Toplevel'),
  'thebacknd.buildToplevel': notBuilt('Build Toplevel'),
  'thebacknd.pushToCache': notBuilt('Push to Cache'),
  'thebacknd.generateSigningKey': notBuilt('Generate Signing Key'),
  'thebacknd.buildOnWorkers': notBuilt('Build on Ephemeral Workers'),
  'thebacknd.importImage': notBuilt('Import Base Image'),
  'thebacknd.refresh': (ctx) => ctx.accountsChanged(),
  'thebacknd.destroyAll': notBuilt('Destroy All'),
  'thebacknd.destroyOld': notBuilt('Destroy Old'),
  'thebacknd.showMachines': notBuilt('Show Machines'),
  'thebacknd.setToken': (ctx) => setToken(ctx),
  'thebacknd.setDigitalOceanToken': (ctx) => setToken(ctx, 'digitalocean'),
  'thebacknd.setHetznerToken': (ctx) => setToken(ctx, 'hetzner'),
  'thebacknd.setCacheCredentials': notBuilt('Set Cache Credentials'),
  'thebacknd.machine.destroy': notBuilt('Destroy'),
  'thebacknd.machine.openTerminal': notBuilt('Open Terminal'),
  'thebacknd.machine.showBootLog': notBuilt('Show Boot Log'),
  'thebacknd.machine.copyIp': notBuilt('Copy IP'),
  'thebacknd.machine.extend': notBuilt('Extend'),
};
