// The state machine of one run: build → sign → push → keys → create → running → SSH → credentials or closure →
// boot → ready, overlapped where nothing waits on the result: keys and the cloud's clock while building, the
// machine's create and boot while the closure is pushed. Every machine is created already tagged with its run id and deadline, so whatever happens after,
// it is never unmarked: the reaper would still find it. On cancellation it is destroyed at once; on an agent
// failure it is destroyed or kept as the caller asked. Cleanup never uses the (maybe aborted) run signal.

import { randomUUID } from 'node:crypto';
import type { Machine } from '../providers/types';
import type { BootOutcome, MachineKeys, RunEvent, RunPorts, RunRequest, RunResult, Stage } from './types';
import { UserError } from '../base/errors';
import { pollDelayMs, RUNNING_PACE } from './pace';

export const newRunId = (): string => `thebacknd-${randomUUID()}`;

export function installableOf(req: RunRequest): string | undefined {
  const p = req.payload;
  if (p.kind === 'configuration') return `${p.flakeRef}#nixosConfigurations.${p.name}.config.system.build.toplevel`;
  if (p.kind === 'installable') return p.installable;
  return undefined;
}

export async function runToplevel(ports: RunPorts, req: RunRequest, outer: AbortSignal, emit: (e: RunEvent) => void, runId: string = newRunId()): Promise<RunResult> {
  const stage = (s: Stage, detail?: string) => emit({ type: 'stage', stage: s, at: new Date(), ...(detail ? { detail } : {}) });
  const log = (line: string) => emit({ type: 'log', line });

  // One signal for the whole run: the caller's cancel, or the failure of a stage running in the background (the
  // push), stops every stage; the background failure is what the run then reports.
  const ctl = new AbortController();
  let background: { error: unknown } | undefined;
  const onOuterAbort = () => ctl.abort(outer.reason);
  if (outer.aborted) ctl.abort(outer.reason);
  else outer.addEventListener('abort', onOuterAbort, { once: true });
  const signal = ctl.signal;

  // Nothing in the keys, the cloud's clock, the names taken or the create's prerequisites (Hetzner's project key)
  // depends on the build: all are ready by the time it ends, and the create is one request.
  const keysP = ports.newKeys(runId);
  keysP.catch(() => undefined);
  const listedP = ports.provider.list(signal).then(({ serverTime, machines }) => ({ offsetMs: serverTime.getTime() - Date.now(), names: machines.map((m) => m.name) }));
  listedP.catch(() => undefined);
  ports.provider.prepareCreate?.(signal).catch(() => undefined); // on failure the create looks it up again and says why

  let storePath: string | undefined = req.payload.kind === 'toplevel' || req.payload.kind === 'binary' ? req.payload.storePath : undefined;
  // A path this run does not push must already be where machines substitute from: asked now, answered before create.
  const given = req.transfer === 'cache' ? storePath : undefined;
  const givenProblemP = given && ports.narinfoProblem ? ports.narinfoProblem(given, req.cachePrivate, signal) : undefined;
  givenProblemP?.catch(() => undefined);
  let pushing: Promise<void> | undefined;
  let machine: Machine | undefined;
  let createAttempted = false;
  let failureHandled = false;
  try {
    const installable = installableOf(req);
    if (installable) {
      stage('build', installable);
      storePath = await ports.build(installable, signal, log);
      if (req.transfer === 'cache') {
        // The machine is created as soon as the toplevel's path is known; the agent waits for its narinfo, which
        // the push writes last (after every path it references), so the machine never sees half a closure.
        const top = storePath;
        stage('sign', top);
        stage('push', top);
        pushing = (async () => {
          await ports.sign(top, signal);
          await ports.push(top, signal, (message, fraction) => emit({ type: 'progress', message, ...(fraction === undefined ? {} : { fraction }) }));
          // Pushed to the bucket; a public URL serving another bucket would still leave the machine waiting.
          const problem = await ports.narinfoProblem?.(top, req.cachePrivate, signal);
          if (problem)
            throw new UserError(`The push finished, but machines would not find ${top}: ${problem}. Check thebacknd.cache.publicUrl (it must serve the bucket pushed to).`);
        })();
        pushing.catch((error: unknown) => {
          if (signal.aborted) return;
          background = { error };
          ctl.abort(error);
        });
      }
    }
    signal.throwIfAborted();

    stage('keys');
    const keys = await keysP;
    const givenProblem = await givenProblemP;
    if (given && givenProblem) {
      throw new UserError(
        `${given} is not in the binary cache, so a machine would wait for it in vain: ${givenProblem}. Push it first (thebacknd push ${given}), or run its configuration, which builds and pushes it. No machine was created.`,
      );
    }
    stage('create', `${req.placement.provider} ${req.placement.region} ${req.placement.size}`);
    const listed = await listedP;
    const deadline = new Date(Date.now() + listed.offsetMs + req.maxAgeMinutes * 60_000);
    signal.throwIfAborted();
    const userData = ports.userData({ payload: req.payload, keys, cachePrivate: req.cachePrivate, transfer: req.transfer, runId, ...(storePath ? { storePath } : {}) });
    createAttempted = true;
    machine = await ports.provider.create({
      region: req.placement.region,
      size: req.placement.size,
      image: req.placement.image,
      userData,
      deadline,
      runId,
      knownNames: listed.names,
      ...(storePath ? { toplevel: storePath } : {}),
    }); // not aborted mid-request: a create the cloud is still processing could escape the cleanup's lookup
    emit({ type: 'machine', machine });
    signal.throwIfAborted();

    stage('wait-running', machine.name);
    const started = await waitRunning(ports, machine, signal, req);
    if (started === 'ended') {
      // Off or gone before we could look: for a program that is its normal end (it powers off, the reaper reaps).
      if (req.payload.kind !== 'binary') throw new UserError(`${machine.name} powered off or disappeared while it was starting.`);
      log(`${machine.name} finished its program and powered off before SSH answered.`);
      await pushing;
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
      await settle(pushing); // a failed push explains a failed boot better than the agent's timeout does
      if (background) throw background.error;
      const reason = outcome.reason ?? 'the boot agent failed';
      if (req.onFailure === 'destroy') await cleanup(ports, runId, machine, stage, log);
      else log(`Keeping ${machine.name} as asked; it is still destroyed at its deadline.`);
      failureHandled = true;
      throw new UserError(`${machine.name}: ${reason}`, undefined, `run id ${runId}`);
    }
    await pushing;
    stage('ready', machine.name);
    return { machine, keys, outcome, ...(storePath ? { storePath } : {}) };
  } catch (thrown) {
    const err = background && !outer.aborted ? background.error : thrown;
    // Nothing of this run keeps going after it returns: the push stops (its ordering keeps the bucket valid).
    ctl.abort(err);
    await settle(pushing);
    if (failureHandled) throw err;
    if (createAttempted) await cleanup(ports, runId, machine, stage, log);
    else {
      await settle(keysP);
      await ports.removeKeys(runId);
    }
    throw err;
  } finally {
    outer.removeEventListener('abort', onOuterAbort);
  }
}

async function settle(p: Promise<unknown> | undefined): Promise<void> {
  await p?.catch(() => undefined);
}

/**
 * Polls until the machine runs with an address; 'ended' when it powered off or vanished first. Paced to the
 * provider (src/run/pace.ts) unless the request fixes an interval.
 */
async function waitRunning(ports: RunPorts, m: Machine, signal: AbortSignal, req: RunRequest): Promise<Machine | 'ended'> {
  const timeoutMs = req.runningTimeoutMs ?? 10 * 60_000;
  const pace = RUNNING_PACE[m.provider];
  const until = Date.now() + timeoutMs;
  let current = m;
  for (let n = 0; !(current.status === 'running' && (current.ipv4 || current.ipv6)); n++) {
    if (Date.now() > until) throw new UserError(`${m.name} did not reach the running state within ${Math.round(timeoutMs / 60_000)} minutes.`);
    await ports.sleep(req.pollMs ?? pollDelayMs(pace, n), signal);
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
