// Follows the agent's output on a booting machine over SSH. The machine may not answer yet, and the connection
// may drop while it switches (sshd restarts): the stream waits, reconnects, and replays the log without showing a
// line twice. vscode-free: the run and the Show Boot Log view both consume its events.

import { setTimeout as delay } from 'node:timers/promises';
import { parseAgentLine, type AgentEvent } from '../agent/log';
import { isAbort } from '../base/errors';
import { LineSplitter } from './lines';
import { waitForSsh, type SshSession, type SshTarget, type WaitOptions } from './session';

/** The whole unit log, then follow. The command must replay from the start: lines already shown are skipped. */
/**
 * The agent's own log file: it holds both agent phases (thebacknd-keys and thebacknd-agent) and the switch output,
 * on the image and on test hosts alike, whereas the journal of one unit misses the first phase.
 */
export const AGENT_LOG_FILE = '/run/thebacknd/agent.log';
export const DEFAULT_BOOT_LOG_COMMAND = `tail -n +1 -F ${AGENT_LOG_FILE}`;

export type BootLogStatus = 'waiting' | 'connected' | 'reconnecting' | 'ended';

export type BootLogEvent =
  { kind: 'status'; status: BootLogStatus; message: string } | { kind: 'line'; line: string; stream: 'stdout' | 'stderr' } | { kind: 'stage'; stage: AgentEvent; line: string };

export interface BootLogOptions {
  target: SshTarget;
  /** Remote command; default DEFAULT_BOOT_LOG_COMMAND. */
  command?: string;
  /** Recognises stage lines; default parseAgentLine (`thebacknd: stage=…`). A stage event follows its line. */
  parseLine?: (line: string) => AgentEvent | undefined;
  /** Stop following after a stage for which this is true (e.g. agent/log.ts's isTerminal, for a run). */
  until?: (stage: AgentEvent) => boolean;
  /** How long to wait for SSH, first and after each drop; default 10 min. */
  waitDeadlineMs?: number;
  /** Pause between connection attempts; default 2 s. */
  retryIntervalMs?: number;
  /** Passed to the SSH wait (e.g. `hostKeyMismatch: 'retry'`). */
  connect?: Omit<WaitOptions, 'deadlineMs' | 'intervalMs' | 'signal' | 'onAttempt'>;
  signal?: AbortSignal;
}

export type BootLogEnd = { reason: 'exited'; code: number | null; signal: string | null } | { reason: 'finished'; stage: AgentEvent } | { reason: 'aborted' };

/**
 * Streams the log until the remote command exits or the signal aborts. Rejects (a UserError) when SSH does not
 * answer in time or answers with another host key.
 */
export async function streamBootLog(opts: BootLogOptions, onEvent: (e: BootLogEvent) => void): Promise<BootLogEnd> {
  const { target, signal } = opts;
  const command = opts.command ?? DEFAULT_BOOT_LOG_COMMAND;
  const parse = opts.parseLine ?? parseAgentLine;
  const seen: string[] = [];
  let first = true;
  try {
    for (;;) {
      const session = await connectWithStatus(opts, first, onEvent);
      onEvent({ kind: 'status', status: 'connected', message: `Connected to ${target.host}; following the agent's log.` });
      first = false;
      const replay = new Replay(seen);
      const stop = new AbortController();
      const stopAll = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
      let finished: AgentEvent | undefined;
      const emit = (line: string): void => {
        if (finished || replay.skip(line)) return;
        onEvent({ kind: 'line', line, stream: 'stdout' });
        const stage = parse(line);
        if (stage === undefined) return;
        onEvent({ kind: 'stage', stage, line });
        if (opts.until?.(stage)) {
          finished = stage;
          stop.abort();
        }
      };
      const out = new LineSplitter(emit);
      const err = new LineSplitter((line) => onEvent({ kind: 'line', line, stream: 'stderr' }));
      let res;
      try {
        res = await session.exec(command, {
          onStdout: (d) => out.push(d),
          onStderr: (d) => err.push(d),
          signal: stopAll,
        });
      } catch {
        res = { code: null, signal: null }; // the connection broke between connect and exec: reconnect
      }
      if (finished) {
        session.close();
        return { reason: 'finished', stage: finished };
      }
      if (signal?.aborted) {
        session.close();
        return { reason: 'aborted' };
      }
      if (res.code !== null || res.signal !== null) {
        out.flush();
        err.flush();
        session.close();
        const how = res.code !== null ? `status ${res.code}` : `signal ${res.signal}`;
        onEvent({ kind: 'status', status: 'ended', message: `The log command on ${target.host} exited with ${how}.` });
        return { reason: 'exited', code: res.code, signal: res.signal };
      }
      // No exit status: the connection dropped (reboot, sshd restart, network). Partial lines come back on replay.
      out.discard();
      err.discard();
      session.close();
      onEvent({ kind: 'status', status: 'reconnecting', message: `Connection to ${target.host} lost; reconnecting…` });
      await delay(opts.retryIntervalMs ?? 2_000, undefined, signal ? { signal } : {});
    }
  } catch (e) {
    if (signal?.aborted || isAbort(e)) return { reason: 'aborted' };
    throw e;
  }
}

async function connectWithStatus(opts: BootLogOptions, first: boolean, onEvent: (e: BootLogEvent) => void): Promise<SshSession> {
  const host = opts.target.host;
  if (first) onEvent({ kind: 'status', status: 'waiting', message: `Waiting for SSH on ${host}…` });
  let lastReason = '';
  return waitForSsh(opts.target, {
    ...opts.connect,
    deadlineMs: opts.waitDeadlineMs ?? 10 * 60_000,
    intervalMs: opts.retryIntervalMs ?? 2_000,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onAttempt: (_n, err) => {
      // One line per change of reason, not one per attempt.
      if (err.message === lastReason) return;
      lastReason = err.message;
      onEvent({ kind: 'status', status: 'waiting', message: `Waiting for SSH on ${host}… (${err.message})` });
    },
  });
}

/**
 * Skips the replayed prefix of a log after a reconnect. Lines are matched in order against those already shown,
 * starting where the replay's first line was seen; the first line that differs ends the skipping.
 */
class Replay {
  private pos: number | undefined;
  private skipping: boolean;

  constructor(private readonly seen: string[]) {
    this.skipping = seen.length > 0;
  }

  /** True when the line was already shown; records it otherwise. */
  skip(line: string): boolean {
    if (this.skipping) {
      if (this.pos === undefined) {
        const at = this.seen.indexOf(line);
        if (at >= 0) this.pos = at;
      }
      if (this.pos !== undefined && this.pos < this.seen.length && this.seen[this.pos] === line) {
        this.pos++;
        return true;
      }
      this.skipping = false;
    }
    if (this.seen.length >= MAX_REMEMBERED) this.seen.splice(0, this.seen.length - MAX_REMEMBERED + 1);
    this.seen.push(line);
    return false;
  }
}

const MAX_REMEMBERED = 50_000;
