// Tokens from a command, as vps-worker's `tokenCmd` (e.g. a password manager: `pass show hetzner/api`), for the CLI
// (--token-command, $THEBACKND_*_TOKEN_COMMAND) and the extension (thebacknd.<provider>.tokenCommand). The command
// runs through /bin/sh; its stdout is the token, which goes nowhere but the caller: never printed, logged, or put in
// an error message, a setting or a process argument. Its stderr may hold secrets too: a failure says only how the
// command ended, and a hint.
import { execFileSync, spawn } from 'node:child_process';
import { UserError } from './errors';
import type { Lifetime } from './lifetime';
import { PROVIDER_LABEL } from './tokens';
import type { ProviderId } from './provider-id';

export const TOKEN_COMMAND_ENV: Record<ProviderId, string> = {
  digitalocean: 'THEBACKND_DO_TOKEN_COMMAND',
  hetzner: 'THEBACKND_HCLOUD_TOKEN_COMMAND',
};

/** A password manager may wait for a passphrase; past this, it is stuck. */
export const TOKEN_COMMAND_TIMEOUT_MS = 5 * 60_000;
/** A token is well under a kilobyte; more is not a token. */
const MAX_OUTPUT = 64 * 1024;

export interface TokenCommandOptions {
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Appended to a failure's message: where the command is configured, how to see why it failed. */
  hint?: string;
  /** The extension's runner only: aborting it stops the command (its whole process group). */
  signal?: AbortSignal;
}

/**
 * For the CLI: the command gets this terminal as its stdin and stderr (so it can ask for a passphrase). Synchronous,
 * as the CLI reads tokens while it builds its clients.
 */
export function runTokenCommandSync(provider: ProviderId, command: string, opts: TokenCommandOptions): string {
  const timeoutMs = opts.timeoutMs ?? TOKEN_COMMAND_TIMEOUT_MS;
  let out: string;
  try {
    out = execFileSync('/bin/sh', ['-c', command], { stdio: ['inherit', 'pipe', 'inherit'], encoding: 'utf8', env: opts.env, timeout: timeoutMs, maxBuffer: MAX_OUTPUT });
  } catch (e) {
    // The error carries the command's stdout (possibly the token): only how it ended is reported.
    const { status, signal, code } = e as { status?: number | null; signal?: string | null; code?: string };
    throw failure(provider, code === 'ETIMEDOUT' ? { timedOutMs: timeoutMs } : code === 'ENOBUFS' ? { tooMuch: true } : { status, signal, code }, opts.hint);
  }
  return tokenFrom(provider, out, opts.hint);
}

/**
 * For the extension, which has no terminal: stdin is empty and stderr is discarded. Asynchronous, so the extension
 * host keeps running while a password manager's own window asks for a passphrase. The command gets a process group of
 * its own, killed whole on timeout or cancel, so a grandchild holding stdout open cannot outlive it.
 */
export function runTokenCommand(provider: ProviderId, command: string, opts: TokenCommandOptions): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? TOKEN_COMMAND_TIMEOUT_MS;
  if (opts.signal?.aborted) return Promise.reject(failure(provider, { cancelled: true }, undefined));
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'ignore'], env: opts.env, detached: true });
    const chunks: Buffer[] = [];
    let size = 0;
    let ended: Ending | undefined;
    const stop = (why: Ending) => {
      ended ??= why;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => stop({ timedOutMs: timeoutMs }), timeoutMs);
    const cancel = () => stop({ cancelled: true });
    opts.signal?.addEventListener('abort', cancel, { once: true });
    child.stdout.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_OUTPUT) stop({ tooMuch: true });
      else chunks.push(d);
    });
    let settled = false;
    const settle = (how: Ending | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', cancel);
      if (how) reject(failure(provider, how, opts.hint));
      else {
        try {
          resolve(tokenFrom(provider, Buffer.concat(chunks).toString('utf8'), opts.hint));
        } catch (e) {
          reject(e as Error);
        }
      }
    };
    // A shell that cannot start emits 'error' and maybe no 'close'.
    child.on('error', (e: NodeJS.ErrnoException) => settle({ code: e.code ?? 'failed to start' }));
    child.on('close', (status, signal) => settle(ended ?? (status === 0 ? undefined : { status, signal })));
  });
}

/**
 * The extension's runner: each command runs within the window's lifetime, so deactivate stops a command still
 * running (a password manager waiting for a passphrase) with its whole process group, and waits until it has.
 */
export function lifetimeTokenRunner(
  lifetime: Lifetime,
  opts: Omit<TokenCommandOptions, 'hint' | 'signal'> & { hint?: (p: ProviderId) => string },
): (p: ProviderId, command: string) => Promise<string> {
  const never = new AbortController().signal;
  return (p, command) => lifetime.run(never, (signal) => runTokenCommand(p, command, { env: opts.env, timeoutMs: opts.timeoutMs, hint: opts.hint?.(p), signal }));
}

type Ending = { timedOutMs: number } | { tooMuch: true } | { cancelled: true } | { status?: number | null; signal?: string | null; code?: string };

function label(provider: ProviderId): string {
  return `The ${PROVIDER_LABEL[provider]} token command`;
}

function failure(provider: ProviderId, how: Ending, hint: string | undefined): UserError {
  const tail = hint ? ` ${hint}` : '';
  if ('timedOutMs' in how) return new UserError(`${label(provider)} did not finish within ${seconds(how.timedOutMs)}; it was stopped.${tail}`);
  if ('cancelled' in how) return new UserError(`${label(provider)} was cancelled: Thebacknd is shutting down.`);
  if ('tooMuch' in how) return new UserError(`${label(provider)} printed more than ${MAX_OUTPUT / 1024} KiB: it should print the token alone (its output is not shown).${tail}`);
  const why = typeof how.status === 'number' ? `exit status ${how.status}` : (how.signal ?? how.code ?? 'failed');
  return new UserError(`${label(provider)} failed (${why}); its output is not shown.${tail}`);
}

function tokenFrom(provider: ProviderId, out: string, hint: string | undefined): string {
  const tail = hint ? ` ${hint}` : '';
  const token = out.trim();
  if (!token) throw new UserError(`${label(provider)} printed nothing: it should print the token alone.${tail}`);
  if (/\s/.test(token)) throw new UserError(`${label(provider)} printed more than one word: it should print the token alone (its output is not shown).${tail}`);
  return token;
}

function seconds(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} minute${ms === 60_000 ? '' : 's'}` : `${Math.round(ms / 100) / 10} s`;
}
