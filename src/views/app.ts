// The app object: every service of one window, built once by extension.ts in a fixed order (src/views/compose.ts)
// and disposed in reverse by one owner, as rust-analyzer's Ctx and GitLens' Container. Commands are functions of
// (ctx, vscode arguments). Declared here, in the lowest VS Code layer, so that commands/ and views/ both reach it
// downward. Only type imports of vscode: a plain Node test drives the Owner.

import type * as vscode from 'vscode';
import type { Lifetime } from '../core/lifetime';
import type { Settings } from '../core/settings';
import type { Tokens } from '../core/tokens';
import type { KeyJanitor } from '../ssh/key-janitor';
import type { DeployState } from './deploys';
import type { Machines } from './machines';
import type { Runs } from './runs';

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
  /** Cancelled on deactivation: runs and worker builds clean up (destroy their machines) and deactivate waits. */
  readonly lifetime: Lifetime;
  /** Hands a disposable to the app: disposed with it, after everything owned later. */
  own<T extends Disposable>(d: T): T;
}

export interface Ctx extends Services {
  /** The machine service, the tree, its refresh, the status-bar countdown and the reaper. */
  readonly machines: Machines;
  /** Run Toplevel's panels, boot logs and runs in progress. */
  readonly runs: Runs;
  /** Removes the keys of machines gone elsewhere; starts at activation. */
  readonly janitor: KeyJanitor;
  /** Deploy history and deploy-on-save of this window. */
  readonly deploys: DeployState;
}

export interface Disposable {
  dispose(): unknown;
}

/**
 * Owns disposables and disposes them in the reverse order of `own`, each once; one that throws does not keep the
 * others alive. Owning after disposal disposes at once (a late callback cannot leak a listener).
 */
export class Owner implements Disposable {
  private readonly owned: Disposable[] = [];
  private disposed = false;

  constructor(private readonly onError: (err: unknown) => void = () => undefined) {}

  own<T extends Disposable>(d: T): T {
    if (this.disposed) this.disposeOne(d);
    else this.owned.push(d);
    return d;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    while (this.owned.length) this.disposeOne(this.owned.pop()!);
  }

  private disposeOne(d: Disposable): void {
    try {
      const r = d.dispose();
      if (r instanceof Promise) r.catch(this.onError);
    } catch (err) {
      this.onError(err);
    }
  }
}
