// Starts the pinned code-server (real VS Code 1.100.3) isolated under one temp folder: its own user data,
// extensions, XDG dirs, TMPDIR and HOME, bound to 127.0.0.1 on a port the OS picks, in its own process group that is
// killed when the server is stopped or this process exits. Shared by the integration runner, the browser tests and
// `npm start` (which keeps the real HOME).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const codeServerEntry = path.join(repoRoot, 'test/vscode/node_modules/code-server/out/node/entry.js');

export interface CodeServerOptions {
  /** Folder opened in the workbench; default: an empty folder inside the server's temp root. */
  workspace?: string;
  /** User settings written to <user-data-dir>/User/settings.json, over quiet defaults (no welcome page, no tips). */
  settings?: Record<string, unknown>;
  /** Extra environment for VS Code's server; the extension host inherits it. */
  env?: Record<string, string>;
  /** .vsix files installed with --install-extension before the server starts. */
  vsix?: string[];
  /**
   * Keep the caller's HOME, XDG dirs and TMPDIR (`npm start`: the user's nix, git and ssh configuration apply).
   * By default VS Code gets empty ones in its temp root, so that tests neither read nor write the user's files.
   */
  userEnvironment?: boolean;
  /** How long to wait for /healthz; default 60 s. */
  startTimeoutMs?: number;
  /** Bind this port instead of one the OS picks. */
  port?: number;
  /**
   * Keep user data, extensions and XDG dirs in this folder across runs instead of a temp folder removed at stop
   * (`npm start`, so that settings and stored tokens survive a restart).
   */
  stateDir?: string;
  /** Keep the extension gallery (open-vsx.org) reachable; tests leave it off so nothing leaves the machine. */
  gallery?: boolean;
}

export interface CodeServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT, the authority of vscode-remote:// URIs. */
  readonly authority: string;
  readonly root: string;
  readonly workspace: string;
  readonly userDataDir: string;
  readonly extensionsDir: string;
  readonly logFile: string;
  /** The URL that opens the workbench on `folder` (default: the workspace), optionally with a development extension. */
  workbenchUrl(opts?: WorkbenchUrlOptions): string;
  /** The last lines of the server's own log, for error messages. */
  logTail(lines?: number): string;
  /** Kills the process group and removes the temp root (kept when THEBACKND_KEEP_TMP=1). */
  stop(): Promise<void>;
}

export interface WorkbenchUrlOptions {
  folder?: string;
  /** Absolute path of an extension folder to load in development mode. */
  extensionDevelopmentPath?: string;
  /** Absolute path of the compiled test entry (exports run()) the extension host runs, then exits the workbench. */
  extensionTestsPath?: string;
}

/** Settings that keep the workbench quiet and deterministic for tests; callers' settings win. */
export const quietSettings: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.ignoreRecommendations': true,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'chat.commandCenter.enabled': false,
  'workbench.enableExperiments': false,
};

/** Cloud tokens are never inherited from the developer's shell: a test must not reach a real cloud by accident. */
const strippedEnv = ['DIGITALOCEAN_ACCESS_TOKEN', 'DIGITALOCEAN_TOKEN', 'HCLOUD_TOKEN', 'VSCODE_IPC_HOOK_CLI'];

export function assertCodeServerInstalled(): void {
  if (!fs.existsSync(codeServerEntry)) {
    throw new Error('code-server is not installed in test/vscode. Run `npm run setup:vscode` first.');
  }
}

/** The settings a persistent profile already has (VS Code writes plain JSON there); {} when none or unreadable. */
function readSettings(userDataDir: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(path.join(userDataDir, 'User', 'settings.json'), 'utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function writeSettings(userDataDir: string, settings: Record<string, unknown>): void {
  const dir = path.join(userDataDir, 'User');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'settings.json'), JSON.stringify(settings, null, 2));
}

function baseArgs(userDataDir: string, extensionsDir: string): string[] {
  return [codeServerEntry, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
}

/** Installs a packaged extension the way a user would (`code-server --install-extension x.vsix`). */
function installVsix(args: string[], env: NodeJS.ProcessEnv, vsix: string): void {
  const r = spawnSync(process.execPath, [...args, '--install-extension', path.resolve(vsix)], {
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  if (r.status !== 0 || !/was successfully installed/.test(out)) {
    throw new Error(`code-server --install-extension ${vsix} failed (exit ${r.status}):\n${out}`);
  }
}

const liveGroups = new Set<number>();
let exitHookInstalled = false;
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when the caller crashes or is interrupted: no code-server outlives the test process.
  process.on('exit', () => liveGroups.forEach((pid) => killGroup(pid, 'SIGKILL')));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      // A caller with its own handler (npm start) stops the server itself.
      if (process.listenerCount(sig) > 0) return;
      liveGroups.forEach((pid) => killGroup(pid, 'SIGKILL'));
      process.exit(130);
    });
  }
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startCodeServer(opts: CodeServerOptions = {}): Promise<CodeServer> {
  assertCodeServerInstalled();
  installExitHook();
  const persistent = opts.stateDir !== undefined;
  const root = opts.stateDir ? path.resolve(opts.stateDir) : fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-vscode-'));
  fs.mkdirSync(root, { recursive: true });
  const dir = (name: string) => {
    const p = path.join(root, name);
    fs.mkdirSync(p, { recursive: true });
    return p;
  };
  const userDataDir = dir('user-data');
  const extensionsDir = dir('extensions');
  const workspace = opts.workspace ?? dir('workspace');
  const logFile = path.join(root, 'code-server.log');
  const config = path.join(root, 'config.yaml');
  fs.writeFileSync(config, `bind-addr: 127.0.0.1:${opts.port ?? 0}\nauth: none\ncert: false\n`);
  writeSettings(userDataDir, { ...quietSettings, ...readSettings(userDataDir), ...opts.settings });

  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of strippedEnv) delete env[name];
  if (!opts.userEnvironment) {
    Object.assign(env, {
      HOME: dir('home'),
      XDG_CONFIG_HOME: dir('xdg/config'),
      XDG_DATA_HOME: dir('xdg/data'),
      XDG_CACHE_HOME: dir('xdg/cache'),
      XDG_RUNTIME_DIR: dir('xdg/runtime'),
      TMPDIR: dir('tmp'),
    });
  }
  Object.assign(env, {
    // The server would run `$SHELL -i -l` to read a login environment for the extension host: slow (it timed out
    // after 10 s with root's shell files here) and a way for shell rc files to inject tokens. VS Code skips it when
    // started from its CLI; the environment we pass is already the caller's.
    VSCODE_CLI: '1',
    // A product without a gallery URL: no extension queries to open-vsx.org from the server.
    ...(opts.gallery ? {} : { EXTENSIONS_GALLERY: '{}' }),
    ...opts.env,
  });

  const cleanup = () => {
    if (persistent) fs.rmSync(path.join(root, 'tmp'), { recursive: true, force: true });
    else if (process.env.THEBACKND_KEEP_TMP !== '1') fs.rmSync(root, { recursive: true, force: true });
  };
  const args = baseArgs(userDataDir, extensionsDir);
  let child: ChildProcess | undefined;
  try {
    for (const vsix of opts.vsix ?? []) installVsix(args, env, vsix);

    const log = fs.openSync(logFile, 'w');
    child = spawn(
      process.execPath,
      [...args, '--config', config, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override', '--ignore-last-opened'],
      // detached = setsid: the server, its extension hosts, terminals and pty helpers share one process group.
      { cwd: workspace, env, detached: true, stdio: ['ignore', log, log] },
    );
    fs.closeSync(log);
    const pid = child.pid;
    if (pid === undefined) throw new Error('code-server did not start (no pid).');
    liveGroups.add(pid);
    const started = child;

    const authority = await waitReady(started, logFile, opts.startTimeoutMs ?? 60_000);
    const url = `http://${authority}`;
    const server: CodeServer = {
      url,
      authority,
      root,
      workspace,
      userDataDir,
      extensionsDir,
      logFile,
      workbenchUrl: (w = {}) => workbenchUrl(authority, { folder: workspace, ...w }),
      logTail: (n = 30) => tail(logFile, n),
      stop: async () => {
        killGroup(pid, 'SIGTERM');
        if (!(await waitForExit(started, 3000))) killGroup(pid, 'SIGKILL');
        await waitForExit(started, 2000);
        killGroup(pid, 'SIGKILL'); // stragglers that ignored SIGTERM after the leader exited
        liveGroups.delete(pid);
        cleanup();
      },
    };
    return server;
  } catch (err) {
    if (child?.pid !== undefined) {
      killGroup(child.pid, 'SIGKILL');
      liveGroups.delete(child.pid);
    }
    const detail = fs.existsSync(logFile) ? `\ncode-server log:\n${tail(logFile, 30)}` : '';
    cleanup();
    throw new Error(`${err instanceof Error ? err.message : String(err)}${detail}`);
  }
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Waits until the server logs its address and answers /healthz; fails if it exits first or the time runs out. */
async function waitReady(child: ChildProcess, logFile: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let authority: string | undefined;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`code-server exited during startup (code ${child.exitCode ?? child.signalCode}).`);
    }
    authority ??= /HTTP server listening on http:\/\/(127\.0\.0\.1:\d+)/.exec(tail(logFile, 50))?.[1];
    if (authority) {
      try {
        const res = await fetch(`http://${authority}/healthz`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) return authority;
      } catch {
        // not yet
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`code-server did not become ready within ${Math.round(timeoutMs / 1000)} s.`);
}

/**
 * code-server refuses --extensionDevelopmentPath on its command line, but the workbench accepts the same options
 * through the URL's `payload`, with paths as vscode-remote:// URIs of this server.
 */
export function workbenchUrl(authority: string, opts: WorkbenchUrlOptions & { folder: string }): string {
  const remote = (p: string) => `vscode-remote://${authority}${encodeURI(path.resolve(p))}`;
  const payload: [string, string][] = [];
  if (opts.extensionDevelopmentPath) payload.push(['extensionDevelopmentPath', remote(opts.extensionDevelopmentPath)]);
  if (opts.extensionTestsPath) payload.push(['extensionTestsPath', remote(opts.extensionTestsPath)]);
  payload.push(['skipWelcome', 'true']);
  const query = new URLSearchParams({ folder: path.resolve(opts.folder), payload: JSON.stringify(payload) });
  return `http://${authority}/?${query.toString()}`;
}
