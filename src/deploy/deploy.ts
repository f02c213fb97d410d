// Deploy to a running machine: build → push what the cache lacks (or copy what the machine lacks over the pinned
// SSH connection) → start the machine-side switch (nix/agent/thebacknd-deploy.sh) → follow its log → confirm over
// a NEW SSH session, which proves that the new configuration still lets us in. Without that confirmation the
// machine switches back by itself; we never have to reach it to roll it back. The machine's deadline is not
// touched. Every connection is pinned to the host key generated for the machine.

import { randomBytes } from 'node:crypto';
import type { AgentEvent } from '../agent/log';
import { isAbort, UserError } from '../base/errors';
import type { Settings } from '../base/settings';
import { build } from '../nix/build';
import { closureOf } from '../nix/closure';
import { push } from '../nix/push';
import { runNix, type NixOptions } from '../nix/run';
import type { CacheCredentials } from '../nix/s3';
import { signClosure } from '../nix/sign';
import { streamBootLog } from '../ssh/boot-log';
import { storeUrl } from '../ssh/known-hosts';
import { machineAddress, machineKeys } from '../ssh/machine-target';
import { SshSession, sshTargetFor, waitForSsh, type SshTarget } from '../ssh/session';
import { isDeployTerminal, parseDeployLine, type DeployLine } from './log';
import type { DeployEvent, DeployRequest, DeployResult, DeployStage } from './types';

export interface DeployOptions {
  settings: Settings;
  /** Where per-machine keys live (the run's keysRoot). */
  keysRoot: string;
  /** Push credentials, for transfer 'cache'. */
  cacheCredentials?: CacheCredentials;
  flakeDir?: string;
  nix?: Pick<NixOptions, 'env' | 'nixBin'>;
  /** The machine-side command; default `thebacknd-deploy` (on the image's PATH). */
  deployCommand?: string;
  /** How long SSH may stay away (after a switch that restarts sshd, or until the machine rolled back); default 5 min. */
  sshTimeoutMs?: number;
  sshRetryMs?: number;
}

export const DEFAULT_DEPLOY_COMMAND = 'thebacknd-deploy';

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export function newDeployId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${randomBytes(3).toString('hex')}`;
}

export async function deployToMachine(o: DeployOptions, req: DeployRequest, signal: AbortSignal, emit: (e: DeployEvent) => void, id = newDeployId()): Promise<DeployResult> {
  const stage = (s: DeployStage, detail?: string): void => emit({ type: 'stage', stage: s, at: new Date(), ...(detail ? { detail } : {}) });
  const log = (line: string): void => emit({ type: 'log', line });
  const nix = (onLog?: (l: string) => void): NixOptions => ({ ...o.nix, ...(o.flakeDir ? { cwd: o.flakeDir } : {}), signal, ...(onLog ? { onLog } : {}) });
  const ip = machineAddress(req.machine);
  const keys = await machineKeys(o.keysRoot, req.machine);
  const target = await sshTargetFor(keys, ip);
  const command = o.deployCommand ?? DEFAULT_DEPLOY_COMMAND;
  const sshWait = { deadlineMs: o.sshTimeoutMs ?? 5 * 60_000, intervalMs: o.sshRetryMs ?? 2_000, hostKeyMismatch: 'fail' as const };

  // 1. The toplevel.
  let storePath: string;
  const p = req.payload;
  if (p.kind === 'toplevel') storePath = p.storePath;
  else {
    const installable = p.kind === 'configuration' ? `${p.flakeRef}#nixosConfigurations.${p.name}.config.system.build.toplevel` : p.installable;
    stage('build', installable);
    storePath = (await build(installable, nix(log))).path;
  }

  // 2. Only what is missing travels.
  let uploadedBytes = 0;
  let uploadedPaths = 0;
  if (req.transfer === 'cache') {
    if (!o.cacheCredentials) throw new UserError('No binary cache credentials: run "Thebacknd: Set Cache Credentials…" (CLI: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).');
    stage('sign', storePath);
    await signClosure([storePath], o.settings.cache.signingKeyFile, nix());
    stage('push', storePath);
    const pushed = await push([storePath], {
      cache: o.settings.cache,
      credentials: o.cacheCredentials,
      sign: false,
      ...(o.nix ? { nix: o.nix } : {}),
      signal,
      onProgress: (pr) => {
        if (pr.phase === 'uploading')
          emit({
            type: 'progress',
            message: `Uploading ${pr.pathsUploaded}/${pr.pathsMissing} paths (${bytes(pr.bytesUploaded)})`,
            ...(pr.pathsMissing ? { fraction: pr.pathsUploaded / pr.pathsMissing } : {}),
          });
      },
    });
    uploadedBytes = pushed.uploadedBytes;
    uploadedPaths = pushed.uploadedPaths;
    emit({ type: 'progress', message: `Pushed ${pushed.uploadedPaths} new of ${pushed.closure} paths (${bytes(pushed.uploadedBytes)})`, fraction: 1 });
  } else {
    stage('copy', storePath);
    const closure = await closureOf([storePath], nix());
    const missing = await remoteInvalid(
      target,
      closure.map((c) => c.path),
      signal,
    );
    const size = new Map(closure.map((c) => [c.path, c.narSize]));
    uploadedPaths = missing.length;
    uploadedBytes = missing.reduce((n, m) => n + (size.get(m) ?? 0), 0);
    if (missing.length) {
      emit({ type: 'progress', message: `Copying ${missing.length} of ${closure.length} paths (${bytes(uploadedBytes)}) over SSH` });
      // ssh-ng with --no-check-sigs, as the run's copy: root is trusted there; Nix skips the paths already valid.
      await runNix(['copy', '--no-check-sigs', '--to', storeUrl(ip, keys, { scheme: 'ssh-ng' }), storePath], nix(log), `Copying ${storePath} to ${ip}`);
    }
    emit({ type: 'progress', message: `The machine had ${closure.length - missing.length} of ${closure.length} paths already`, fraction: 1 });
  }
  signal.throwIfAborted();

  // 3. Start the switch on the machine, detached from this session.
  stage('activate', `${req.machine.name} (${req.confirmTimeoutSeconds ? `rollback unless confirmed within ${req.confirmTimeoutSeconds} s` : 'no rollback'})`);
  const startLine = await runRemote(target, `${command} start ${shq(id)} ${shq(storePath)} ${req.confirmTimeoutSeconds}`, signal, sshWait);
  const started = startLine.lines.map(parseDeployLine).find((l) => l?.stage === 'started' || l?.stage === 'failed');
  if (started?.stage !== 'started') {
    const why =
      started?.stage === 'failed'
        ? started.message
        : startLine.code === 127
          ? `${command} is not on the machine (an older base image?)`
          : (startLine.stderr.trim().split('\n')[0] ?? `exit status ${startLine.code}`);
    throw new UserError(`${req.machine.name} did not start the deploy: ${why}`);
  }

  // From here on the machine holds the deploy: a cancel tells it to roll back, and it does even if we vanish.
  const state: { previous?: string; fetchedBytes: number; seen: number; last?: DeployLine } = { fetchedBytes: 0, seen: 0 };
  try {
    stage('switch', storePath);
    const armedOrOver = (ev: AgentEvent): boolean => ev.stage === 'done' || ev.stage === 'failed' || (ev.stage === 'other' && (ev.name === 'armed' || ev.name === 'rolled-back'));
    await follow(target, started.log, state, armedOrOver, signal, sshWait, log);
    let lastSshError: string | undefined;
    if (state.last?.stage === 'armed') {
      stage('confirm', `a new SSH session to ${ip}`);
      // A NEW connection, as deploy-rs's confirmation: the one that started the deploy proves nothing.
      const answer = await runRemote(
        target,
        `${command} confirm ${shq(id)}`,
        signal,
        { ...sshWait, deadlineMs: Math.max(sshWait.deadlineMs, (req.confirmTimeoutSeconds + 60) * 1000) },
        (err) => {
          if (err !== lastSshError) log(`── ${err}`);
          lastSshError = err;
        },
      );
      if (answer.code !== 0 && answer.code !== 3) throw new UserError(`Could not confirm the deploy on ${req.machine.name}: ${answer.stderr.trim() || answer.lines.join(' ')}`);
      await follow(target, started.log, state, () => false, signal, sshWait, log, true);
    }
    const last = state.last;
    const result = (outcome: DeployResult['outcome'], reason?: string): DeployResult => ({
      id,
      storePath,
      ...(state.previous ? { previous: state.previous } : {}),
      outcome,
      ...(reason ? { reason } : {}),
      uploadedBytes,
      uploadedPaths,
      fetchedBytes: state.fetchedBytes,
    });
    stage('done', last?.stage === 'done' ? last.result : (last?.stage ?? 'no result'));
    if (last?.stage === 'done') return result(last.result);
    if (last?.stage === 'rolled-back') {
      const why = last.reason === 'confirm-timeout' && lastSshError ? `${last.message} (from here: ${lastSshError})` : last.message || last.reason;
      return result('rolled-back', why);
    }
    if (last?.stage === 'failed') return result('failed', `${last.reason}: ${last.message}`);
    throw new UserError(`The deploy log on ${req.machine.name} ended without a result.`);
  } catch (err) {
    if (signal.aborted || isAbort(err)) await cancelRemote(target, command, id, log);
    throw err;
  }
}

/** Follows the deploy's log from the line after the last one seen, until `until` or a terminal line. */
async function follow(
  target: SshTarget,
  file: string,
  state: { previous?: string; fetchedBytes: number; seen: number; last?: DeployLine },
  until: (ev: AgentEvent) => boolean,
  signal: AbortSignal,
  wait: { deadlineMs: number; intervalMs: number },
  log: (l: string) => void,
  toTheEnd = false,
): Promise<void> {
  const end = await streamBootLog(
    {
      target,
      command: `tail -n +${state.seen + 1} -F ${shq(file)}`,
      until: (ev) => until(ev) || ev.stage === 'done' || ev.stage === 'failed' || (ev.stage === 'other' && ev.name === 'rolled-back'),
      waitDeadlineMs: wait.deadlineMs,
      retryIntervalMs: wait.intervalMs,
      connect: { hostKeyMismatch: 'fail' },
      signal,
    },
    (e) => {
      if (e.kind === 'status' && e.status !== 'connected' && e.status !== 'waiting') log(`── ${e.message}`);
      if (e.kind !== 'line' || e.stream !== 'stdout') return;
      state.seen++;
      log(e.line);
      const l = parseDeployLine(e.line);
      if (!l) return;
      state.last = l;
      if (l.stage === 'deploy' && l.previous) state.previous = l.previous;
      if (l.stage === 'fetch' && l.bytesTotal !== undefined) state.fetchedBytes = l.bytesTotal;
    },
  );
  signal.throwIfAborted();
  if (end.reason === 'exited') throw new UserError(`Following the deploy log on ${target.host} ended early (${end.code ?? end.signal}).`);
  if (toTheEnd && !(state.last && isDeployTerminal(state.last))) throw new UserError(`The deploy log on ${target.host} ended without a result.`);
}

/** One command over a fresh connection (retried until SSH answers), its stdout as lines. */
async function runRemote(
  target: SshTarget,
  command: string,
  signal: AbortSignal,
  wait: { deadlineMs: number; intervalMs: number; hostKeyMismatch: 'fail' },
  onAttempt?: (error: string) => void,
): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  const session = await waitForSsh(target, { ...wait, signal, ...(onAttempt ? { onAttempt: (_n: number, e: Error) => onAttempt(e.message) } : {}) });
  try {
    const r = await session.run(command, { signal });
    return { code: r.code, lines: r.stdout.split('\n').filter(Boolean), stderr: r.stderr };
  } finally {
    session.close();
  }
}

/** Which of `paths` the machine lacks (one round trip). */
async function remoteInvalid(target: SshTarget, paths: string[], signal: AbortSignal): Promise<string[]> {
  const session = await SshSession.connect(target, { signal });
  try {
    const r = await session.run('xargs nix-store --check-validity --print-invalid', { stdin: `${paths.join('\n')}\n`, signal });
    if (r.code !== 0) throw new UserError(`Could not ask ${target.host} which paths it has: ${r.stderr.trim().split('\n')[0] ?? r.code}`);
    return r.stdout.split('\n').filter((l) => l.startsWith('/nix/store/'));
  } finally {
    session.close();
  }
}

/** Best effort, never with the aborted signal: the machine rolls back at its timer anyway. */
async function cancelRemote(target: SshTarget, command: string, id: string, log: (l: string) => void): Promise<void> {
  try {
    const session = await SshSession.connect(target, { signal: AbortSignal.timeout(15_000), timeoutMs: 10_000 });
    try {
      await session.run(`${command} cancel ${shq(id)}`, { signal: AbortSignal.timeout(15_000) });
      log('Cancelled: the machine switches back to the previous generation.');
    } finally {
      session.close();
    }
  } catch {
    log('Cancelled; the machine could not be told, and switches back by itself when its confirmation timer ends.');
  }
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
