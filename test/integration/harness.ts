// What every in-editor suite that talks to a cloud shares: the extension's exported API, a wait helper, and one
// emulated cloud set up the way a user would point the extension at it (fresh tokens in the environment, endpoints
// in the user settings). close() puts every variable and setting back, tokens first so that restoring an endpoint
// cannot send a request to a real cloud, and hands what the clouds received to the secrets scan that ends the suite.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { startEmulator, type Emulator, type EmulatorOptions } from '../fixtures/emulator';
import { emulatorArtefacts, mintSecret, registerLoginKey as registerKey } from '../fixtures/secrets';
import { TOKEN_ENV } from '../../src/base/tokens';
import type { ThebackndApi } from '../../src/extension';
import type { ProviderId } from '../../src/providers/types';
import { keepForScan, snapshotSettings } from './scan';
import { readTestEnv } from './testEnv';

export { waitFor } from '../fixtures/wait';

/** The running extension's API (activating it if VS Code has not yet). */
export async function thebacknd(): Promise<ThebackndApi> {
  const ext = vscode.extensions.getExtension<ThebackndApi>('thebacknd.thebacknd');
  assert.ok(ext, 'the extension is loaded');
  return ext.activate();
}

/** Registers a machine's login key with the secrets scan (see fixtures/secrets.ts); false while it has none yet. */
export function registerLoginKey(runId: string, what: string): boolean {
  const userData = readTestEnv().userDataDir;
  assert.ok(userData, "the runner names VS Code's user data folder");
  return registerKey(userData, runId, what);
}

export interface Cloud {
  emu: Emulator;
  /** The tokens this suite's extension uses, minted fresh and registered with the secrets scan. */
  tokens: Record<ProviderId, string>;
  /** Sets `thebacknd.<key>` in the user settings (undefined removes it); close() restores its value from before. */
  set(key: string, value: unknown): Promise<void>;
  /** Sets an environment variable of this extension host; close() restores it. */
  setEnv(name: string, value: string): void;
  close(): Promise<void>;
}

export interface CloudOptions {
  /** Names the tokens in the scan's findings: `run suite`. */
  suite: string;
  emulator?: EmulatorOptions;
  /** Providers whose token is set (default both). */
  providers?: ProviderId[];
}

export async function startCloud(opts: CloudOptions): Promise<Cloud> {
  const emu = await startEmulator(opts.emulator);
  const savedEnv = new Map<string, string | undefined>();
  const savedSettings = new Map<string, unknown>();
  const config = () => vscode.workspace.getConfiguration('thebacknd');
  const tokens: Record<ProviderId, string> = {
    digitalocean: mintSecret(`DigitalOcean token (${opts.suite})`, 'dop_v1_', 64),
    hetzner: mintSecret(`Hetzner token (${opts.suite})`, 'hz', 62),
  };
  const setEnv = (name: string, value: string) => {
    if (!savedEnv.has(name)) savedEnv.set(name, process.env[name]);
    process.env[name] = value;
  };
  const set = async (key: string, value: unknown) => {
    if (!savedSettings.has(key)) savedSettings.set(key, config().inspect(key)?.globalValue);
    await config().update(key, value, vscode.ConfigurationTarget.Global);
  };
  for (const p of opts.providers ?? ['digitalocean', 'hetzner']) setEnv(TOKEN_ENV[p], tokens[p]);
  await set('digitalocean.endpoint', emu.doUrl);
  await set('hetzner.endpoint', emu.hetznerUrl);
  await vscode.commands.executeCommand('thebacknd.refresh');
  return {
    emu,
    tokens,
    set,
    setEnv,
    async close() {
      snapshotSettings(opts.suite, readTestEnv().userDataDir);
      for (const [name, value] of savedEnv) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      for (const [key, value] of savedSettings) await config().update(key, value, vscode.ConfigurationTarget.Global);
      await vscode.commands.executeCommand('thebacknd.refresh').then(undefined, () => undefined);
      keepForScan(emulatorArtefacts(emu, `${opts.suite} emulator`));
      await emu.close();
    },
  };
}
