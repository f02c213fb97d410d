// The table of every command the manifest declares, id → handler. extension.ts registers it in one loop, and a
// test checks it against package.json so that no declared command is left without a handler.

import type { Ctx } from '../views/app';

// Each command family is loaded on its first use, not at activation: esbuild keeps a module reached only through
// `import()` unevaluated (and its functions uncompiled) until then, so activation pays for none of them.
const tokens = () => import('./tokens');
const machines = () => import('./machines');
const image = () => import('./image');
const nix = () => import('./nix');
const workers = () => import('./workers');
const run = () => import('./run');
const ssh = () => import('./ssh');
const deploy = () => import('./deploy');
const cloudReaper = () => import('./cloudReaper');
const setup = () => import('./setup');
const walkthrough = () => import('./walkthrough');
const spaces = () => import('./spaces');

export type Handler = (ctx: Ctx, ...args: unknown[]) => unknown;

export const COMMANDS: Record<string, Handler> = {
  'thebacknd.runToplevel': async (ctx, arg) => (await run()).runToplevel(ctx, arg),
  'thebacknd.checkSetup': async (ctx, arg) => (await setup()).checkSetup(ctx, arg),
  'thebacknd.chooseCache': async (ctx, arg) => (await walkthrough()).chooseCache(ctx, arg),
  'thebacknd.createSpacesCache': async (ctx, arg) => (await spaces()).createSpacesCache(ctx, arg),
  'thebacknd.createExampleFlake': async (ctx, arg) => (await walkthrough()).createExampleFlake(ctx, arg),
  'thebacknd.buildToplevel': async (ctx) => (await nix()).buildToplevel(ctx),
  'thebacknd.pushToCache': async (ctx, storePath) => (await nix()).pushToCache(ctx, typeof storePath === 'string' ? storePath : undefined),
  'thebacknd.generateSigningKey': async (ctx) => (await nix()).generateSigningKey(ctx),
  'thebacknd.buildOnWorkers': async (ctx, arg) => (await workers()).buildOnWorkers(ctx, arg),
  'thebacknd.openWorkerShell': async (ctx, node) => (await workers()).openWorkerShell(ctx, node),
  'thebacknd.importImage': async (ctx, provider, file, options) => {
    const r = await (await image()).importImage(ctx, provider, file, options);
    await (await setup()).refreshSetupKeys(ctx).catch(() => undefined); // the walkthrough's image step
    return r;
  },
  'thebacknd.refresh': async (ctx) => (await machines()).refresh(ctx),
  'thebacknd.destroyAll': async (ctx) => (await machines()).destroyAll(ctx),
  'thebacknd.destroyOld': async (ctx) => (await machines()).destroyOld(ctx),
  'thebacknd.showMachines': async (ctx) => (await machines()).showMachines(ctx),
  'thebacknd.deployCloudReaper': async (ctx, options) => (await cloudReaper()).deployCloudReaper(ctx, options),
  'thebacknd.installLocalReaper': async (ctx, provider, options) => (await cloudReaper()).installLocalReaper(ctx, provider, options),
  'thebacknd.setToken': async (ctx) => (await tokens()).setToken(ctx),
  'thebacknd.setDigitalOceanToken': async (ctx) => (await tokens()).setToken(ctx, 'digitalocean'),
  'thebacknd.setHetznerToken': async (ctx) => (await tokens()).setToken(ctx, 'hetzner'),
  'thebacknd.setCacheCredentials': async (ctx) => (await nix()).setCacheCredentials(ctx),
  'thebacknd.setCacheReadCredentials': async (ctx) => (await nix()).setCacheReadCredentials(ctx),
  'thebacknd.machine.destroy': async (ctx, node, nodes, options) => (await machines()).destroy(ctx, node, nodes, options),
  'thebacknd.machine.openTerminal': async (ctx, node) => (await ssh()).openTerminal(ctx, node),
  'thebacknd.machine.showBootLog': async (ctx, node) => (await ssh()).showBootLog(ctx, node),
  'thebacknd.machine.openPanel': async (ctx, node) => (await ssh()).openPanel(ctx, node),
  'thebacknd.machine.openInRemoteSsh': async (ctx, node, nodes, options) => (await ssh()).openInRemoteSsh(ctx, node, nodes, options),
  'thebacknd.machine.copyIp': async (ctx, node, nodes) => (await machines()).copyIp(ctx, node, nodes),
  'thebacknd.machine.extend': async (ctx, node, nodes, minutes) => (await machines()).extend(ctx, node, nodes, minutes),
  'thebacknd.machine.deploy': async (ctx, node, arg) => (await deploy()).deployToMachine(ctx, node, arg),
  'thebacknd.deploy.toggleOnSave': async (ctx, node) => (await deploy()).toggleDeployOnSave(ctx, node),
};
