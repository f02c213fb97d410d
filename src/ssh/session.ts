// One SSH connection to a machine, over ssh2, that only ever talks to the host key pinned at creation. ssh2 is
// loaded on the first connection, so activation does not pay for it.

import { setTimeout as delay } from 'node:timers/promises';
import type { Client, ClientChannel, ConnectConfig } from 'ssh2';
import { UserError } from '../base/errors';
import { publicKeyBlob, readLoginKey, type MachineKeys } from './keys';
import { untilAccepting, type ProbeResult } from './probe';

export interface SshTarget {
  host: string;
  port?: number;
  /** Default `root`. */
  username?: string;
  /** The login private key (OpenSSH format). */
  privateKey: string | Buffer;
  /** The pinned host key, `ssh-ed25519 AAAA…`. */
  hostPublicKey: string;
}

export interface ConnectOptions {
  /** TCP connect plus handshake; default 20 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** SSH-level keepalives so a dead peer (a machine that rebooted) is noticed; default every 10 s, 3 missed. */
  keepaliveIntervalMs?: number;
}

export interface ExecOptions {
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Written to the command's stdin, which is then closed (e.g. a credential, never put on a command line). */
  stdin?: string | Buffer;
  signal?: AbortSignal;
}

/** `code` is the exit status; `signal` is set when the command was killed; both null: the connection dropped. */
export interface ExecResult {
  code: number | null;
  signal: string | null;
}

export interface PtyWindow {
  cols: number;
  rows: number;
  term?: string;
}

/** The target's key is not the pinned one: never retried, never connected. */
export class HostKeyMismatchError extends UserError {
  constructor(host: string) {
    super(`The host key of ${host} does not match the key this machine was created with — possible man-in-the-middle; not connecting.`);
    this.name = 'HostKeyMismatchError';
  }
}

/** The SSH target for a machine whose keys are stored here. */
export async function sshTargetFor(keys: MachineKeys, host: string, port?: number): Promise<SshTarget> {
  return { host, ...(port === undefined ? {} : { port }), privateKey: await readLoginKey(keys), hostPublicKey: keys.hostPublicKey };
}

export class SshSession {
  private closedFlag = false;
  private readonly closeListeners = new Set<() => void>();

  private constructor(
    private readonly client: Client,
    readonly target: SshTarget,
  ) {
    client.on('close', () => {
      this.closedFlag = true;
      for (const l of [...this.closeListeners]) l();
    });
  }

  /** One attempt: resolves when authenticated, rejects with HostKeyMismatchError, an abort, or the network error. */
  static async connect(target: SshTarget, opts: ConnectOptions = {}): Promise<SshSession> {
    opts.signal?.throwIfAborted();
    const { Client } = await import('../vendor/ssh2');
    const pinned = publicKeyBlob(target.hostPublicKey);
    const client = new Client();
    // ssh2 may report a socket error after the attempt already failed (a reset after a refused login).
    client.on('error', () => undefined);
    let mismatch = false;
    const config: ConnectConfig = {
      host: target.host,
      port: target.port ?? 22,
      username: target.username ?? 'root',
      privateKey: target.privateKey,
      readyTimeout: opts.timeoutMs ?? 20_000,
      keepaliveInterval: opts.keepaliveIntervalMs ?? 10_000,
      keepaliveCountMax: 3,
      // Ask for the ed25519 host key only: the one that is pinned.
      algorithms: { serverHostKey: ['ssh-ed25519'] },
      hostVerifier: (key: Buffer) => {
        mismatch = !key.equals(pinned);
        return !mismatch;
      },
    };
    return new Promise<SshSession>((resolve, reject) => {
      const onAbort = (): void => {
        cleanup();
        client.end();
        reject(opts.signal?.reason ?? abortError());
      };
      const onError = (err: Error & { level?: string }): void => {
        cleanup();
        client.end();
        reject(mismatch ? new HostKeyMismatchError(target.host) : classify(err, target));
      };
      const onReady = (): void => {
        cleanup();
        resolve(new SshSession(client, target));
      };
      // A server that hangs up before 'ready' without an error (sshd's MaxStartups) would otherwise leave this
      // pending: ssh2 clears its ready timer when the socket closes.
      const onClose = (): void => {
        cleanup();
        reject(mismatch ? new HostKeyMismatchError(target.host) : new UserError(`SSH on ${whereOf(target)} closed the connection.`));
      };
      const cleanup = (): void => {
        opts.signal?.removeEventListener('abort', onAbort);
        client.off('error', onError);
        client.off('ready', onReady);
        client.off('close', onClose);
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      client.on('error', onError);
      client.on('ready', onReady);
      client.on('close', onClose);
      client.connect(config);
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Called once when the connection ends, for whatever reason. Returns an unsubscribe function. */
  onClose(listener: () => void): () => void {
    if (this.closedFlag) {
      queueMicrotask(listener);
      return () => undefined;
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** Runs a command, streaming its output. Resolves when it exits or the connection drops; abort resolves at once. */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    opts.signal?.throwIfAborted();
    return new Promise<ExecResult>((resolve, reject) => {
      this.client.exec(command, (err, channel) => {
        if (err) return reject(connectionLost(this.target, err));
        // Listeners go on synchronously: the exit status may be in the same packet batch as the channel's opening.
        let code: number | null = null;
        let signal: string | null = null;
        let settled = false;
        const settle = (): void => {
          if (settled) return;
          settled = true;
          opts.signal?.removeEventListener('abort', onAbort);
          resolve({ code, signal });
        };
        // sshd keeps a session channel open until its command exits: do not wait for that when aborting.
        const onAbort = (): void => {
          try {
            channel.signal('TERM');
          } catch {
            // the channel is already gone
          }
          channel.close();
          settle();
        };
        channel.on('exit', (c: number | null, s?: string) => {
          code = typeof c === 'number' ? c : null;
          signal = s ?? null;
        });
        channel.on('data', (d: Buffer) => !settled && opts.onStdout?.(d));
        channel.stderr.on('data', (d: Buffer) => !settled && opts.onStderr?.(d));
        channel.on('close', settle);
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        if (opts.signal?.aborted) onAbort();
        else if (opts.stdin !== undefined) channel.end(opts.stdin);
      });
    });
  }

  /**
   * Runs a command and hands over its stdout as a stream, flow-controlled (the command waits while the reader does:
   * a large file is relayed without piling up here). A non-zero exit destroys the stream with an error.
   */
  async stream(command: string): Promise<ClientChannel> {
    const channel = await new Promise<ClientChannel>((resolve, reject) => this.client.exec(command, (err, ch) => (err ? reject(connectionLost(this.target, err)) : resolve(ch))));
    let said = '';
    channel.stderr.on('data', (d: Buffer) => (said = (said + d.toString()).slice(-500)));
    channel.on('exit', (code: number | null) => {
      if (code === 0) return;
      channel.emit('error', new Error(`${command.split(' ')[0]} exited with ${code ?? 'a signal'}${said.trim() ? `: ${said.trim()}` : ''}`));
      channel.destroy();
    });
    return channel;
  }

  /** Runs a command and collects its output (for short commands). */
  async run(command: string, opts: Omit<ExecOptions, 'onStdout' | 'onStderr'> = {}): Promise<ExecResult & { stdout: string; stderr: string }> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const res = await this.exec(command, { ...opts, onStdout: (d) => out.push(d), onStderr: (d) => err.push(d) });
    return { ...res, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
  }

  /** An interactive login shell on a PTY; `exited` resolves when its channel closes (code and signal null: dropped). */
  shell(window: PtyWindow): Promise<{ channel: ClientChannel; exited: Promise<ExecResult> }> {
    return new Promise((resolve, reject) => {
      this.client.shell({ term: window.term ?? 'xterm-256color', cols: window.cols, rows: window.rows, width: 0, height: 0 }, (err, channel) => {
        if (err) return reject(connectionLost(this.target, err));
        const exited = new Promise<ExecResult>((done) => {
          let result: ExecResult = { code: null, signal: null };
          channel.on('exit', (c: number | null, s?: string) => (result = { code: typeof c === 'number' ? c : null, signal: s ?? null }));
          channel.on('close', () => done(result));
        });
        resolve({ channel, exited });
      });
    });
  }

  close(): void {
    this.client.end();
  }
}

export interface WaitOptions extends ConnectOptions {
  /** Give up after this long; default 5 min. */
  deadlineMs?: number;
  /** Pause between attempts; default 2 s. */
  intervalMs?: number;
  /** Each failed attempt, e.g. for "waiting for SSH on <ip>…". */
  onAttempt?: (attempt: number, error: Error) => void;
  /**
   * A wrong host key fails at once (default). `retry` keeps trying, for images whose sshd may answer with a
   * temporary key before the pinned one is installed; it still never authenticates to a wrong key.
   */
  hostKeyMismatch?: 'fail' | 'retry';
  /**
   * With `retry`, a wrong key seen more often than this fails without waiting for the deadline (default 30, about a
   * minute at 2 s): a temporary key lasts until the pinned one is in place, a wrong one does not go away.
   */
  hostKeyMismatchRetries?: number;
  /**
   * Between handshakes, probe the port over plain TCP every this many ms and start the handshake as soon as it
   * accepts (default 100 ms); 0 turns probing off (a handshake every `intervalMs`).
   */
  probeIntervalMs?: number;
}

/** Connects as soon as SSH answers with the pinned key: retries refused, unreachable, timed out and denied logins. */
export async function waitForSsh(target: SshTarget, opts: WaitOptions = {}): Promise<SshSession> {
  const deadline = Date.now() + (opts.deadlineMs ?? 5 * 60_000);
  const interval = opts.intervalMs ?? 2_000;
  const probeEvery = opts.probeIntervalMs ?? 100;
  const timedOut = (last: string) => new UserError(`SSH on ${target.host} did not answer within ${Math.round((opts.deadlineMs ?? 5 * 60_000) / 1000)} s (last attempt: ${last}).`);
  let lastReport = 0;
  let mismatches = 0;
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    if (probeEvery > 0) {
      // Cheap TCP probes until the port accepts; a failed probe is reported like a failed attempt, at most once
      // per interval, so a caller's "still waiting" stays as quiet as before.
      const r = await untilAccepting(target.host, target.port ?? 22, {
        intervalMs: probeEvery,
        deadline,
        ...(opts.signal ? { signal: opts.signal } : {}),
        onFailure: (f) => {
          if (Date.now() - lastReport < interval) return;
          lastReport = Date.now();
          opts.onAttempt?.(attempt, new UserError(PROBE_FAILURE[f](whereOf(target))));
        },
      });
      if (r !== 'accepting') throw timedOut(PROBE_FAILURE[r](whereOf(target)));
    }
    const left = deadline - Date.now();
    try {
      return await SshSession.connect(target, { ...opts, timeoutMs: Math.max(1_000, Math.min(opts.timeoutMs ?? 20_000, left)) });
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? err;
      if (err instanceof HostKeyMismatchError && ((opts.hostKeyMismatch ?? 'fail') === 'fail' || ++mismatches > (opts.hostKeyMismatchRetries ?? 30))) throw err;
      const e = err instanceof Error ? err : new Error(String(err));
      opts.onAttempt?.(attempt, e);
      lastReport = Date.now();
      if (Date.now() + interval >= deadline) {
        if (err instanceof HostKeyMismatchError) throw err;
        throw timedOut(e.message);
      }
      await delay(interval, undefined, opts.signal ? { signal: opts.signal } : {});
    }
  }
}

const PROBE_FAILURE: Record<Exclude<ProbeResult, 'accepting'>, (where: string) => string> = {
  refused: (w) => `SSH on ${w} refused the connection (not listening yet?).`,
  unreachable: (w) => `${w} is unreachable.`,
  timeout: (w) => `SSH on ${w} did not answer in time.`,
};

/** Turns ssh2's errors into sentences a user can act on. */
function whereOf(target: SshTarget): string {
  return `${target.host}${target.port && target.port !== 22 ? `:${target.port}` : ''}`;
}

function classify(err: Error & { level?: string; code?: string }, target: SshTarget): Error {
  const where = whereOf(target);
  if (err.level === 'client-authentication') {
    return new UserError(`SSH on ${where} refused this machine's login key.`);
  }
  switch (err.code) {
    case 'ECONNREFUSED':
      return new UserError(`SSH on ${where} refused the connection (not listening yet?).`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new UserError(`${where} is unreachable.`);
    case 'ECONNRESET':
      return new UserError(`SSH on ${where} reset the connection.`);
    case 'ETIMEDOUT':
      return new UserError(`SSH on ${where} did not answer in time.`);
  }
  if (/timed out/i.test(err.message)) return new UserError(`SSH on ${where} did not answer in time.`);
  return new UserError(`SSH to ${where} failed: ${err.message.split('\n')[0]}`);
}

function connectionLost(target: SshTarget, err: Error): UserError {
  return new UserError(`The SSH connection to ${target.host} failed: ${err.message.split('\n')[0]}`);
}

function abortError(): Error {
  const e = new Error('The operation was aborted');
  e.name = 'AbortError';
  return e;
}
