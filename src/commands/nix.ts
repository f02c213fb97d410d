// Build Toplevel, Push to Cache, Generate Signing Key, Set Cache Credentials: thin VS Code wrappers over src/nix.
// Pickers and progress live here; every decision and every Nix or S3 call is in the vscode-free core.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import { pickFlake, withAbort } from './wizard';
import { UserError } from '../base/errors';
import {
  build,
  cacheCredentialsFromEnv,
  checkCacheSettings,
  checkNix,
  defaultKeyName,
  flakeRef,
  generateSigningKey as generateKey,
  listNixosConfigurations,
  parseStorePath,
  push,
  toplevelInstallable,
  type CacheCredentials,
  type PushProgress,
} from '../nix';

export const CREDENTIALS_SECRET = 'thebacknd.cache.credentials';
/** A read-only key for a private cache: the only cache key that ever goes to a machine. */
const READ_CREDENTIALS_SECRET = 'thebacknd.cache.readCredentials';
const LAST_BUILD_FILE = 'last-build.json';

/** Builds a toplevel (or any installable) of a workspace flake; resolves with the store path, undefined if dismissed. */
export async function buildToplevel(ctx: Ctx): Promise<string | undefined> {
  const flakeDir = await pickFlake({ title: 'Thebacknd: which flake?', required: true });
  if (!flakeDir) return undefined;
  const nix = { cwd: flakeDir };
  const configs = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Thebacknd: reading the flake' }, async () => {
    await checkNix(nix);
    return listNixosConfigurations(flakeRef(flakeDir), nix);
  });
  const other = '$(edit) Other installable…';
  const pick = await vscode.window.showQuickPick(
    [...configs.map((c) => ({ label: c, description: 'nixosConfigurations toplevel' })), { label: other, description: 'e.g. .#packages.x86_64-linux.default' }],
    { title: 'Thebacknd: Build Toplevel', placeHolder: configs.length ? 'Which NixOS configuration?' : 'This flake has no nixosConfigurations' },
  );
  if (!pick) return undefined;
  let installable: string;
  if (pick.label === other) {
    const typed = await vscode.window.showInputBox({ title: 'Thebacknd: installable to build', value: '.#', ignoreFocusOut: true });
    if (!typed) return undefined;
    installable = typed.startsWith('.#') ? `${flakeRef(flakeDir)}${typed.slice(1)}` : typed;
  } else {
    installable = toplevelInstallable(flakeRef(flakeDir), pick.label);
  }

  ctx.output.info(`Building ${installable}`);
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Thebacknd: building ${pick.label === other ? installable : pick.label}`, cancellable: true },
    (progress, token) =>
      withAbort(token, (signal) => {
        let last = 0;
        return build(installable, {
          ...nix,
          signal,
          onLog: (line) => {
            ctx.output.info(line);
            const now = Date.now();
            if (now - last > 250 && line.trim()) {
              last = now;
              progress.report({ message: line.trim().slice(0, 120) });
            }
          },
        });
      }),
  );
  ctx.output.info(`Built ${result.path}`);
  await saveLastBuild(ctx, result.path);
  void vscode.window.showInformationMessage(`Thebacknd: built ${result.path}`, 'Push to Cache', 'Copy Path').then(async (a) => {
    if (a === 'Push to Cache') await vscode.commands.executeCommand('thebacknd.pushToCache', result.path);
    if (a === 'Copy Path') await vscode.env.clipboard.writeText(result.path);
  });
  return result.path;
}

/** Signs and pushes a closure to the configured cache; the path comes from the caller, or is asked (last build first). */
export async function pushToCache(ctx: Ctx, storePath?: unknown): Promise<boolean> {
  const cache = ctx.settings().cache;
  checkCacheSettings(cache);
  const target = typeof storePath === 'string' ? storePath : await askStorePath(ctx);
  if (!target) return false;
  const parsed = parseStorePath(target);
  if (!parsed.ok) throw new UserError(`"${target}" is not a Nix store path: ${parsed.reason}.`);
  const credentials = await cacheCredentials(ctx);
  if (!credentials) return false;

  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Thebacknd: pushing to the cache', cancellable: true },
      (progress, token) =>
        withAbort(token, (signal) => {
          let shown = 0;
          let last = 0;
          return push([parsed.value.storePath], {
            cache,
            credentials,
            signal,
            onLog: (l) => ctx.output.info(l),
            onProgress: (p) => {
              const now = Date.now();
              if (now - last < 250 && p.phase === 'uploading') return;
              last = now;
              const done = p.pathsMissing ? Math.round((100 * p.pathsUploaded) / p.pathsMissing) : 0;
              progress.report({ message: describe(p), increment: Math.max(0, done - shown) });
              shown = Math.max(shown, done);
            },
          });
        }),
    );
    const msg = `pushed ${result.uploadedPaths} of ${result.closure} paths (${mib(result.uploadedBytes)}; ${result.alreadyPresent} already in the cache) to ${cache.bucket}.`;
    ctx.output.info(msg);
    void vscode.window.showInformationMessage(`Thebacknd: ${msg}`);
    return true;
  } catch (err) {
    if (err instanceof UserError && err.fix?.kind === 'setToken' && err.fix.provider === 'cache') {
      ctx.output.error(`${err.message}${err.detail ? `\n${err.detail}` : ''}`);
      const a = await vscode.window.showErrorMessage(`Thebacknd: ${err.message}`, 'Set Cache Credentials…', 'Show Log');
      if (a === 'Set Cache Credentials…') await setCacheCredentials(ctx);
      if (a === 'Show Log') ctx.output.show(true);
      return false;
    }
    throw err;
  }
}

/** Asks for the push key pair and keeps it in SecretStorage (never in settings or logs). */
export async function setCacheCredentials(ctx: Ctx): Promise<CacheCredentials | undefined> {
  const accessKeyId = await vscode.window.showInputBox({
    title: 'Thebacknd: cache access key ID (1/2)',
    prompt: 'Access key ID of an S3 key with read and write access to the cache bucket.',
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() && !/\s/.test(v.trim()) ? undefined : 'One word, no spaces.'),
  });
  if (!accessKeyId) return undefined;
  const secretAccessKey = await vscode.window.showInputBox({
    title: 'Thebacknd: cache secret access key (2/2)',
    prompt: "Kept in VS Code's secret storage.",
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() ? undefined : 'Required.'),
  });
  if (!secretAccessKey) return undefined;
  const creds = { accessKeyId: accessKeyId.trim(), secretAccessKey: secretAccessKey.trim() };
  await ctx.secrets.store(CREDENTIALS_SECRET, JSON.stringify(creds));
  ctx.output.info('Cache credentials saved to secret storage.');
  return creds;
}

/** SecretStorage first, then AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else asks. For the run orchestration too. */
export async function cacheCredentials(ctx: Ctx, ask = true): Promise<CacheCredentials | undefined> {
  const stored = await ctx.secrets.get(CREDENTIALS_SECRET);
  if (stored) {
    try {
      const c = JSON.parse(stored) as CacheCredentials;
      if (c.accessKeyId && c.secretAccessKey) return c;
    } catch {
      /* unreadable: ask again */
    }
  }
  return cacheCredentialsFromEnv(process.env) ?? (ask ? setCacheCredentials(ctx) : undefined);
}

/** Generates a signing key pair under the extension's storage and offers to put it in the settings. */
export async function generateSigningKey(ctx: Ctx): Promise<string | undefined> {
  const name = await vscode.window.showInputBox({
    title: 'Thebacknd: Generate Signing Key',
    prompt: 'Key name (it prefixes every signature; a trailing number lets you rotate keys).',
    value: defaultKeyName(os.hostname()),
    ignoreFocusOut: true,
  });
  if (!name) return undefined;
  const dir = path.join(ctx.storageDir, 'signing-keys');
  const key = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Thebacknd: generating the signing key' }, () => generateKey(name, dir));
  ctx.output.info(`Signing key written to ${key.secretKeyFile} (mode 0600). Public key: ${key.publicKey}`);
  const use = 'Use in Settings';
  const copy = 'Copy Public Key';
  const a = await vscode.window.showInformationMessage(`Thebacknd: public key ${key.publicKey}`, { detail: `Secret key: ${key.secretKeyFile}` }, use, copy);
  if (a === use) {
    const c = vscode.workspace.getConfiguration('thebacknd');
    await c.update('cache.signingKeyFile', key.secretKeyFile, vscode.ConfigurationTarget.Global);
    await c.update('cache.trustedPublicKey', key.publicKey, vscode.ConfigurationTarget.Global);
  } else if (a === copy) {
    await vscode.env.clipboard.writeText(key.publicKey);
  }
  return key.publicKey;
}

async function askStorePath(ctx: Ctx): Promise<string | undefined> {
  const last = await loadLastBuild(ctx);
  return vscode.window.showInputBox({
    title: 'Thebacknd: Push to Cache',
    prompt: 'Store path whose closure to push',
    value: last ?? '/nix/store/',
    ignoreFocusOut: true,
    validateInput: (v) => {
      const r = parseStorePath(v.trim());
      return r.ok ? undefined : `Not a store path: ${r.reason}.`;
    },
  });
}

async function saveLastBuild(ctx: Ctx, storePath: string): Promise<void> {
  await fs.promises.mkdir(ctx.storageDir, { recursive: true, mode: 0o700 });
  await fs.promises.writeFile(path.join(ctx.storageDir, LAST_BUILD_FILE), JSON.stringify({ path: storePath, at: new Date().toISOString() }));
}

async function loadLastBuild(ctx: Ctx): Promise<string | undefined> {
  try {
    const data = JSON.parse(await fs.promises.readFile(path.join(ctx.storageDir, LAST_BUILD_FILE), 'utf8')) as { path?: unknown };
    return typeof data.path === 'string' ? data.path : undefined;
  } catch {
    return undefined;
  }
}

function describe(p: Readonly<PushProgress>): string {
  switch (p.phase) {
    case 'preparing':
      return 'connecting to the cache…';
    case 'checking':
      return p.pathsTotal ? `checking ${p.pathsChecked}/${p.pathsTotal} paths` : 'computing the closure…';
    case 'uploading':
      return `${p.pathsUploaded}/${p.pathsMissing} paths, ${mib(p.bytesUploaded)} sent`;
    case 'done':
      return 'done';
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Asks for a read-only S3 key (what machines of a private cache get) and keeps it in SecretStorage. */
export async function setCacheReadCredentials(ctx: Ctx): Promise<CacheCredentials | undefined> {
  const accessKeyId = await vscode.window.showInputBox({
    title: 'Thebacknd: cache read-only access key ID (1/2)',
    prompt: 'Access key ID of an S3 key that can only read the cache bucket: machines of a private cache get it (never the push key).',
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() && !/\s/.test(v.trim()) ? undefined : 'One word, no spaces.'),
  });
  if (!accessKeyId) return undefined;
  const secretAccessKey = await vscode.window.showInputBox({
    title: 'Thebacknd: cache read-only secret access key (2/2)',
    prompt: "Kept in VS Code's secret storage; sent to a machine only over its pinned SSH connection.",
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() && !/\s/.test(v.trim()) ? undefined : 'One word, no spaces.'),
  });
  if (!secretAccessKey) return undefined;
  const creds = { accessKeyId: accessKeyId.trim(), secretAccessKey: secretAccessKey.trim() };
  await ctx.secrets.store(READ_CREDENTIALS_SECRET, JSON.stringify(creds));
  ctx.output.info('Cache read credentials saved to secret storage.');
  return creds;
}

/** The read-only key from SecretStorage; never the push key, never asked for here (preflight says what to do). */
export async function cacheReadCredentials(ctx: Ctx): Promise<CacheCredentials | undefined> {
  const stored = await ctx.secrets.get(READ_CREDENTIALS_SECRET);
  if (!stored) return undefined;
  try {
    const c = JSON.parse(stored) as CacheCredentials;
    return c.accessKeyId && c.secretAccessKey ? c : undefined;
  } catch {
    return undefined;
  }
}
