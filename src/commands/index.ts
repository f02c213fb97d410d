// The table of every command the manifest declares, id → handler. extension.ts registers it in one loop, and a
// test checks it against package.json so that no declared command is left without a handler.

import * as vscode from 'vscode';
import type { Ctx } from './context';
import { setToken } from './tokens';
import * as machines from './machines';
import * as nix from './nix';
import * as workers from './workers';

export type Handler = (ctx: Ctx, ...args: unknown[]) => unknown;

/** A capability not built in this version says so plainly rather than pretending to work. */
const notBuilt = (what: string): Handler => () =>
  vscode.window.showWarningMessage(`Thebacknd: ${what} is not available in this version yet.`);

export const COMMANDS: Record<string, Handler> = {
  'thebacknd.runToplevel': notBuilt('Run Toplevel'),
  'thebacknd.buildToplevel': (ctx) => nix.buildToplevel(ctx),
  'thebacknd.pushToCache': (ctx, storePath) => nix.pushToCache(ctx, typeof storePath === 'string' ? storePath : undefined),
  'thebacknd.generateSigningKey': (ctx) => nix.generateSigningKey(ctx),
  'thebacknd.buildOnWorkers': (ctx) => workers.buildOnWorkers(ctx),
  'thebacknd.openWorkerShell': (ctx, node) => workers.openWorkerShell(ctx, node),
  'thebacknd.importImage': notBuilt('Import Base Image'),
  'thebacknd.refresh': (ctx) => machines.refresh(ctx),
  'thebacknd.destroyAll': (ctx) => machines.destroyAll(ctx),
  'thebacknd.destroyOld': (ctx) => machines.destroyOld(ctx),
  'thebacknd.showMachines': (ctx) => machines.showMachines(ctx),
  'thebacknd.setToken': (ctx) => setToken(ctx),
  'thebacknd.setDigitalOceanToken': (ctx) => setToken(ctx, 'digitalocean'),
  'thebacknd.setHetznerToken': (ctx) => setToken(ctx, 'hetzner'),
  'thebacknd.setCacheCredentials': (ctx) => nix.setCacheCredentials(ctx),
  'thebacknd.machine.destroy': (ctx, node, nodes, options) => machines.destroy(ctx, node, nodes, options),
  'thebacknd.machine.openTerminal': notBuilt('Open Terminal'),
  'thebacknd.machine.showBootLog': notBuilt('Show Boot Log'),
  'thebacknd.machine.copyIp': (ctx, node, nodes) => machines.copyIp(ctx, node, nodes),
  'thebacknd.machine.extend': (ctx, node, nodes, minutes) => machines.extend(ctx, node, nodes, minutes),
};
