// The state machine of one run: build → sign → push → keys → create → running → SSH → credentials or closure →
// boot → ready. Every machine is created already tagged with its run id and deadline, so whatever happens after,
// it is never unmarked: the reaper would still find it. On cancellation it is destroyed at once; on an agent
// failure it is destroyed or kept as the caller asked. Cleanup never uses the (maybe aborted) run signal.

import { randomUUID } from 'node:crypto';
import type { Machine } from '../providers/types';
import type { BootOutcome, MachineKeys, RunEvent, RunPorts, RunRequest, RunResult, Stage } from './types';
import { UserError } from '../core/errors';

export const newRunId = (): string => `thebacknd-${randomUUID()}`;

export function installableOf(req: RunRequest): string | undefined {
  const p = req.payload;
  if (p.kind === 'configuration') return `${p.flakeRef}#nixosConfigurations.${p.name}.config.system.build.toplevel`;
  if (p.kind === 'installable') return p.installable;
  return undefined;
}

export async function runToplevel(
  ports: RunPorts,
  req: RunRequest,
  signal: AbortSignal,
  emit: (e: RunEvent) => void,
  runId: string = newRunId(),
): Promise<RunResult> {
  const stage = (s: Stage, detail?: string) => emit({ type: 'stage', stage: s, at: new Date(), ...(detail ? { detail } : {}) });
  const log = (line: string) => emit({ type: 'log', line });

  let storePath: string | undefined = req.payload.kind === 'toplevel' || req.payload.kind === 'binary' ? req.payload.storePath : undefined;
  const installable = installableOf(req);
  if (installable) {
    stage('build', installable);
    storePath = await ports.build(installable, signal, log);
    if (req.transfer === 'cache') {
      stage('sign', storePath);
      await ports.sign(storePath, signal);
      stage('push', storePath);
      await ports.push(storePath, signal, (message, fraction) => emit({ type: 'progress', message, ...(fraction === undefined ? {} : { fraction }) }));
    }
  }
  signal.throwIfAborted();

  stage('keys');
  const keys = await ports.newKeys(runId);
  let machine: Machine | undefined;
  let createAttempted = false;
  let failureHandled = false;
  try {
    stage('create', `${req.placement.provider} ${req.placement.region} ${req.placement.size}`);
    const { serverTime } = await ports.provider.list(signal);
    const deadline = new Date(serverTime.getTime() + req.maxAgeMinutes * 60_000);
    const userData = ports.userData({ payload: req.payload, keys, cachePrivate: req.cachePrivate, transfer: req.transfer, runId, ...(storePath ? { storePath } : {}) });
    createAttempted = true;
    machine = await ports.provider.create({
      region: req.placement.region,
      size: req.placement.size,
      image: req.placement.image,
      userData,
      deadline,
      runId,
      ...(storePath ? { toplevel: storePath } : {}),
    }); // not aborted mid-request: a create the cloud is still processing could escape the cleanup's lookup
    emit({ type: 'machine', machine });
    signal.throwIfAborted();

    stage('wait-running', machine.name);
    const started = await waitRunning(ports, machine, signal, req.pollMs ?? 2000, req.runningTimeoutMs ?? 10 * 60_000);
    if (started === 'ended') {
      // Off or gone before we could look: for a program that is its normal end (it powers off, the reaper reaps).
      if (req.payload.kind !== 'binary') throw new UserError(`${machine.name} powered off or disappeared while it was starting.`);
      log(`${machine.name} finished its program and powered off before SSH answered.`);
      stage('ready', machine.name);
      return { machine, keys, outcome: { ok: true, poweredOff: true }, ...(storePath ? { storePath } : {}) };
    }
    machine = started;
    emit({ type: 'machine', machine });
    const ip = machine.ipv4 ?? machine.ipv6;
    if (!ip) throw new UserError(`${machine.name} is running but has no public address.`);

    stage('wait-ssh', ip);
    await ports.waitSsh(ip, keys, signal);

    if (req.transfer === 'cache' && req.cachePrivate && ports.deliverCredentials) {
      stage('credentials');
      await ports.deliverCredentials(ip, keys, signal);
    }
    if (req.transfer === 'ssh' && storePath) {
      if (!ports.copyClosure) throw new UserError('No binary cache is configured and copying the closure over SSH is unavailable.');
      stage('copy-closure', storePath);
      await ports.copyClosure(ip, keys, storePath, signal, log);
    }

    stage('boot');
    const outcome = await ports.followBoot(ip, keys, signal, log);
    if (!outcome.ok) {
      const reason = outcome.reason ?? 'the boot agent failed';
      if (req.onFailure === 'destroy') await cleanup(ports, runId, machine, stage, log);
      else log(`Keeping ${machine.name} as asked; it is still destroyed at its deadline.`);
      failureHandled = true;
      throw new UserError(`${machine.name}: ${reason}`, undefined, `run id ${runId}`);
    }
    stage('ready', machine.name);
    return { machine, keys, outcome, ...(storePath ? { storePath } : {}) };
  } catch (err) {
    if (failureHandled) throw err;
    if (createAttempted) await cleanup(ports, runId, machine, stage, log);
    else await ports.removeKeys(runId);
    throw err;
  }
}

/** Polls until the machine runs with an address; 'ended' when it powered off or vanished first. */
async function waitRunning(ports: RunPorts, m: Machine, signal: AbortSignal, pollMs: number, timeoutMs: number): Promise<Machine | 'ended'> {
  const until = Date.now() + timeoutMs;
  let current = m;
  while (!(current.status === 'running' && (current.ipv4 || current.ipv6))) {
    if (Date.now() > until) throw new UserError(`${m.name} did not reach the running state within ${Math.round(timeoutMs / 60_000)} minutes.`);
    await ports.sleep(pollMs, signal);
    const next = await ports.provider.get(m.id, signal);
    if (!next || next.status === 'off' || next.status === 'destroying') return 'ended';
    current = next;
  }
  return current;
}

/** Destroys whatever this run created — by run id, so that a create whose answer was lost is found too. */
async function cleanup(ports: RunPorts, runId: string, machine: Machine | undefined, stage: (s: Stage, d?: string) => void, log: (l: string) => void): Promise<void> {
  stage('cleanup', machine?.name ?? runId);
  const fresh = AbortSignal.timeout(120_000);
  try {
    const n = await ports.provider.destroyByRunId(runId, fresh);
    log(n > 0 ? `Destroyed ${machine?.name ?? 'the machine'} (${runId}).` : `No machine was left for ${runId}.`);
    await ports.removeKeys(runId);
  } catch (err) {
    // The machine is tagged and has a deadline: the reaper destroys it even if this call failed.
    log(`Could not destroy ${machine?.name ?? runId} now (${err instanceof Error ? err.message : String(err)}); the reaper will at its deadline.`);
  }
}

export type { BootOutcome, MachineKeys };
