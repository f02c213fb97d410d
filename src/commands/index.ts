// The table of every command the manifest declares, id → handler. extension.ts registers it in one loop, and a
// test checks it against package.json so that no declared command is left without a handler.

import type { Ctx } from '../views/app';
import { setToken } from './tokens';
import * as machines from './machines';
import * as image from './image';
import * as nix from './nix';
import * as workers from './workers';
import { runToplevel } from './run';
import * as ssh from './ssh';
import * as deploy from './deploy';
import { deployCloudReaper, installLocalReaper } from './cloudReaper';
import { checkSetup, refreshSetupKeys } from './setup';
import { chooseCache, createExampleFlake } from './walkthrough';
import { createSpacesCache } from './spaces';

export type Handler = (ctx: Ctx, ...args: unknown[]) => unknown;

export const COMMANDS: Record<string, Handler> = {
  'thebacknd.runToplevel': (ctx, arg) => runToplevel(ctx, arg),
  'thebacknd.checkSetup': (ctx, arg) => checkSetup(ctx, arg),
  'thebacknd.chooseCache': (ctx, arg) => chooseCache(ctx, arg),
  'thebacknd.createSpacesCache': (ctx, arg) => createSpacesCache(ctx, arg),
  'thebacknd.createExampleFlake': (ctx, arg) => createExampleFlake(ctx, arg),
  'thebacknd.buildToplevel': (ctx) => nix.buildToplevel(ctx),
  'thebacknd.pushToCache': (ctx, storePath) => nix.pushToCache(ctx, typeof storePath === 'string' ? storePath : undefined),
  'thebacknd.generateSigningKey': (ctx) => nix.generateSigningKey(ctx),
  'thebacknd.buildOnWorkers': (ctx, arg) => workers.buildOnWorkers(ctx, arg),
  'thebacknd.openWorkerShell': (ctx, node) => workers.openWorkerShell(ctx, node),
  'thebacknd.importImage': async (ctx, provider, file, options) => {
    const r = await image.importImage(ctx, provider, file, options);
    await refreshSetupKeys(ctx).catch(() => undefined); // the walkthrough's image step
    return r;
  },
  'thebacknd.refresh': (ctx) => machines.refresh(ctx),
  'thebacknd.destroyAll': (ctx) => machines.destroyAll(ctx),
  'thebacknd.destroyOld': (ctx) => machines.destroyOld(ctx),
  'thebacknd.showMachines': (ctx) => machines.showMachines(ctx),
  'thebacknd.deployCloudReaper': (ctx, options) => deployCloudReaper(ctx, options),
  'thebacknd.installLocalReaper': (ctx, provider, options) => installLocalReaper(ctx, provider, options),
  'thebacknd.setToken': (ctx) => setToken(ctx),
  'thebacknd.setDigitalOceanToken': (ctx) => setToken(ctx, 'digitalocean'),
  'thebacknd.setHetznerToken': (ctx) => setToken(ctx, 'hetzner'),
  'thebacknd.setCacheCredentials': (ctx) => nix.setCacheCredentials(ctx),
  'thebacknd.setCacheReadCredentials': (ctx) => nix.setCacheReadCredentials(ctx),
  'thebacknd.machine.destroy': (ctx, node, nodes, options) => machines.destroy(ctx, node, nodes, options),
  'thebacknd.machine.openTerminal': (ctx, node) => ssh.openTerminal(ctx, node),
  'thebacknd.machine.showBootLog': (ctx, node) => ssh.showBootLog(ctx, node),
  'thebacknd.machine.openPanel': (ctx, node) => ssh.openPanel(ctx, node),
  'thebacknd.machine.openInRemoteSsh': (ctx, node, nodes, options) => ssh.openInRemoteSsh(ctx, node, nodes, options),
  'thebacknd.machine.copyIp': (ctx, node, nodes) => machines.copyIp(ctx, node, nodes),
  'thebacknd.machine.extend': (ctx, node, nodes, minutes) => machines.extend(ctx, node, nodes, minutes),
  'thebacknd.machine.deploy': (ctx, node, arg) => deploy.deployToMachine(ctx, node, arg),
  'thebacknd.deploy.toggleOnSave': (ctx, node) => deploy.toggleDeployOnSave(ctx, node),
};
