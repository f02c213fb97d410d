// Runs nix and nix-store: streams their log (stderr) line by line, collects stdout, honours an AbortSignal, and
// turns a failure into a UserError whose message is Nix's own first `error:` line and whose detail holds the
// lines that matter (the error block, not the whole build log).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../base/errors';

export interface NixOptions {
  /** Environment of the nix process; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** The `nix` executable; default: found on PATH or in the usual install locations. */
  nixBin?: string;
  cwd?: string;
  signal?: AbortSignal;
  /** Each line Nix logs (stderr), as it comes. */
  onLog?: (line: string) => void;
  /**
   * Run with the soft open-files limit raised to the hard one (vps-worker's `ulimit -Sn "$(ulimit -Hn)"`): a build
   * with thousands of derivations has Nix hold a lock file open for each.
   */
  raiseOpenFiles?: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Flags every `nix` call gets, so a user without these features in nix.conf is not stopped by them. */
export const NIX_FEATURES = ['--extra-experimental-features', 'nix-command flakes'];

export const INSTALL_HINT =
  'Install Nix from https://nixos.org/download (`sh <(curl -L https://nixos.org/nix/install) --daemon`), ' +
  'or on Debian/Ubuntu `sudo apt install nix-bin`, then reload the window.';

/** Where Nix installers put the binary, for editors started without the login shell's PATH. */
const FALLBACK_DIRS = ['/nix/var/nix/profiles/default/bin', '/run/current-system/sw/bin'];

export function resolveNix(env: NodeJS.ProcessEnv = process.env, tool = 'nix'): string | undefined {
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  if (env.HOME) dirs.push(path.join(env.HOME, '.nix-profile/bin'));
  dirs.push(...FALLBACK_DIRS);
  for (const d of dirs) {
    const p = path.join(d, tool);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export function notInstalled(tool = 'nix'): UserError {
  return new UserError(`Nix is not installed: no \`${tool}\` command was found. ${INSTALL_HINT}`, { kind: 'installNix' });
}

function toolPath(tool: 'nix' | 'nix-store', opts: NixOptions): string {
  const env = opts.env ?? process.env;
  if (opts.nixBin) return tool === 'nix' ? opts.nixBin : path.join(path.dirname(opts.nixBin), tool);
  const found = resolveNix(env, tool);
  if (!found) throw notInstalled(tool);
  return found;
}

/** `nix <args>` with the experimental features switched on. `what` names the step in error messages. */
export function runNix(args: string[], opts: NixOptions, what: string): Promise<RunResult> {
  return run(toolPath('nix', opts), [...NIX_FEATURES, ...args], opts, what);
}

/** `nix <args>` as is: for `--version`, which must also work on a Nix too old for the flags above. */
export function runNixPlain(args: string[], opts: NixOptions, what: string): Promise<RunResult> {
  return run(toolPath('nix', opts), args, opts, what);
}

export function runNixStore(args: string[], opts: NixOptions, what: string): Promise<RunResult> {
  return run(toolPath('nix-store', opts), args, opts, what);
}

export function abortError(): Error {
  const e = new Error('The operation was cancelled.');
  e.name = 'AbortError';
  return e;
}

/**
 * The ssh options of every ssh Nix starts for us (`nix copy --to ssh-ng://`, `nix store ping`, remote builders run
 * by this client): no ssh_config at all (`-F /dev/null`: a user's `StrictHostKeyChecking no` or `UserKnownHostsFile`
 * for that host would weaken the pin), strict checking against the known_hosts file Nix writes from the store URL's
 * `base64-ssh-public-host-key`, no global known_hosts, no prompt. Options given first win in ssh, and Nix puts
 * NIX_SSHOPTS before its own; the user's own NIX_SSHOPTS is replaced, not extended (a later `-F` would win).
 */
export const PINNED_SSH_OPTS = '-F /dev/null -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null -o BatchMode=yes -o IdentitiesOnly=yes';

function run(bin: string, args: string[], opts: NixOptions, what: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(abortError());
    // Node cannot set a child's rlimits: a POSIX shell raises it, then execs the tool (same pid, so abort still works).
    const [file, argv] =
      opts.raiseOpenFiles && process.platform !== 'win32' ? ['/bin/sh', ['-c', 'ulimit -Sn "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', bin, ...args]] : [bin, args];
    const child = spawn(file, argv, {
      cwd: opts.cwd,
      env: { ...(opts.env ?? process.env), NIX_SSHOPTS: PINNED_SSH_OPTS },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onAbort = () => child.kill('SIGTERM');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const out: Buffer[] = [];
    const log = new LogTail();
    let partial = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      const lines = (partial + s).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) emit(l);
    });
    const emit = (raw: string) => {
      // Plain text for the Output channel and for error messages, even from a Nix told to force colours.
      const line = raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r$/, '');
      log.push(line);
      opts.onLog?.(line);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(err.code === 'ENOENT' ? notInstalled(path.basename(bin)) : err);
    });
    child.on('close', (code, sig) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (partial) emit(partial);
      const stdout = Buffer.concat(out).toString('utf8');
      if (opts.signal?.aborted) return reject(abortError());
      if (code === 0) return resolve({ stdout, stderr: log.text() });
      reject(nixFailure(what, log.lines(), code, sig));
    });
  });
}

/**
 * Keeps the first error block, the builder output just before it (`name> …` lines, which `-L` prints as they come
 * instead of repeating them in the error), and a bounded tail: a long build log costs bounded memory.
 */
class LogTail {
  private tail: string[] = [];
  private errorBlock: string[] | undefined;
  private builderTail: string[] = [];
  push(line: string): void {
    if (this.errorBlock === undefined && /^error:/.test(line)) {
      this.errorBlock = [];
      this.builderTail = this.tail.filter((l) => /^[\w.+-]+> /.test(l)).slice(-15);
    }
    if (this.errorBlock && this.errorBlock.length < 60) this.errorBlock.push(line);
    this.tail.push(line);
    if (this.tail.length > 200) this.tail.shift();
  }
  lines(): string[] {
    return this.errorBlock ? [...this.builderTail, ...this.errorBlock] : this.tail;
  }
  text(): string {
    return this.tail.join('\n');
  }
}

/** The lines that matter in Nix's stderr: from the first `error:` line on, or the last lines when there is none. */
export function errorLines(stderr: string | string[]): string[] {
  const lines = (Array.isArray(stderr) ? stderr : stderr.split('\n')).map((l) => l.replace(/\s+$/, ''));
  const i = lines.findIndex((l) => /^error:/.test(l));
  const before =
    i >= 0
      ? lines
          .slice(0, i)
          .filter((l) => /^[\w.+-]+> /.test(l))
          .slice(-15)
      : [];
  const block = i >= 0 ? [...before, ...lines.slice(i)] : lines.slice(-15);
  while (block.length && block[block.length - 1] === '') block.pop();
  return block.slice(0, 60);
}

export function nixFailure(what: string, stderr: string[], code: number | null, sig: NodeJS.Signals | null): UserError {
  const lines = errorLines(stderr);
  // Newer Nix opens with an empty `error:` and puts the cause on an indented `error:` line further down.
  const first = lines
    .map((l) => /^\s*error:\s*(.*)$/.exec(l)?.[1]?.trim())
    .find((t): t is string => !!t)
    ?.replace(/;$/, '');
  const status = code === null ? `was killed (${sig ?? 'signal'})` : `exited with code ${code}`;
  const message = first ? `${what} failed: ${first}` : `${what} failed: nix ${status}.`;
  return new UserError(message, undefined, lines.join('\n'));
}
