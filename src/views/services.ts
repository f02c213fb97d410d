// The ground floor of the app object (src/views/app.ts): the output channel, tokens, settings, the accounts event and
// the window's lifetime. Holds no UI state.

import * as vscode from 'vscode';
import { redact } from '../base/errors';
import { Lifetime } from '../base/lifetime';
import { normalise, type Settings } from '../base/settings';
import { Tokens } from '../base/tokens';
import { lifetimeTokenRunner } from '../base/token-command';
import type { Disposable, Owner } from './owner';

/** What every part needs: settings, secrets, the log, the window's lifetime. Built first. */
export interface Services {
  readonly extension: vscode.ExtensionContext;
  readonly output: vscode.LogOutputChannel;
  readonly tokens: Tokens;
  /** Generic secrets (cache credentials); cloud tokens go through `tokens`. */
  readonly secrets: vscode.SecretStorage;
  /** Per-machine keys and other private state; created with mode 0700 on first use. */
  readonly storageDir: string;
  settings(): Settings;
  /** Fires when a token or a setting that changes what the tree shows has changed. */
  readonly onDidChangeAccounts: vscode.Event<void>;
  accountsChanged(): void;
  /** Writes to the Output channel with every known secret removed. */
  log(level: 'info' | 'warn' | 'error', message: string): Promise<void>;
  /** Cancelled on deactivation: runs and worker builds clean up (destroy their machines), token commands stop, and deactivate waits. */
  readonly lifetime: Lifetime;
  /** Hands a disposable to the app: disposed with it, after everything owned later. */
  own<T extends Disposable>(d: T): T;
}

export function createServices(extension: vscode.ExtensionContext, owner: Owner): Services {
  const output = owner.own(vscode.window.createOutputChannel('Thebacknd', { log: true }));
  const changed = owner.own(new vscode.EventEmitter<void>());
  const lifetime = new Lifetime();
  const tokens = new Tokens(extension.secrets, process.env, {
    command: (p) => readSettings()[p].tokenCommand,
    // The extension has no terminal to show the command's stderr on (and it may hold secrets): say where to look.
    // A command still running at deactivate is stopped, and deactivate waits for that.
    run: lifetimeTokenRunner(lifetime, { env: process.env, hint: (p) => `Run it in a terminal to see why (setting thebacknd.${p}.tokenCommand).` }),
  });
  return {
    extension,
    output,
    tokens,
    secrets: extension.secrets,
    storageDir: extension.globalStorageUri.fsPath,
    settings: readSettings,
    onDidChangeAccounts: changed.event,
    accountsChanged: () => changed.fire(),
    lifetime,
    own: (d) => owner.own(d),
    async log(level, message) {
      const clean = redact(message, await tokens.all());
      output[level](clean);
    },
  };
}

/** Typed view of `thebacknd.*`; out-of-range numbers are clamped by the core's `normalise`. */
export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration('thebacknd');
  const provider = (p: 'digitalocean' | 'hetzner') => ({
    region: c.get<string>(`${p}.region`),
    size: c.get<string>(`${p}.size`),
    image: c.get<string>(`${p}.image`),
    endpoint: c.get<string>(`${p}.endpoint`),
    tokenCommand: c.get<string>(`${p}.tokenCommand`),
  });
  return normalise({
    defaultProvider: c.get('defaultProvider'),
    digitalocean: provider('digitalocean'),
    hetzner: provider('hetzner'),
    maxAgeMinutes: c.get<number>('maxAgeMinutes'),
    reapIntervalMinutes: c.get<number>('reapIntervalMinutes'),
    cache: {
      endpoint: c.get<string>('cache.endpoint'),
      bucket: c.get<string>('cache.bucket'),
      region: c.get<string>('cache.region'),
      publicUrl: c.get<string>('cache.publicUrl'),
      trustedPublicKey: c.get<string>('cache.trustedPublicKey'),
      signingKeyFile: c.get<string>('cache.signingKeyFile'),
      checksumMode: c.get<'WHEN_REQUIRED' | 'WHEN_SUPPORTED'>('cache.checksumMode'),
      forcePathStyle: c.get<boolean>('cache.forcePathStyle'),
      private: c.get<boolean>('cache.private'),
    },
    keepRunOnFailure: c.get<boolean>('run.keepOnFailure'),
    keepWorkersOnFailure: c.get<boolean>('workers.keepOnFailure'),
    deploy: { onSave: c.get<boolean>('deploy.onSave'), confirmTimeoutSeconds: c.get<number>('deploy.confirmTimeoutSeconds') },
  });
}
