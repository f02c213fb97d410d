// N workers for one build, from creation to their end. Every worker has its own run id, keys and deadline, as a Run
// Toplevel machine does: it is created already tagged, so that whatever happens here the reaper still destroys it at
// its deadline. A worker is ready when the provider says running, SSH answers with the pinned host key, and the local
// Nix reaches its store through the same pinned URL the build will use. Release destroys every worker by run id
// (which also finds a machine whose create answer was lost), with a fresh signal: a cancelled run still cleans up.

import { setTimeout as delay } from 'node:timers/promises';
import { isAbort, messageOf, UserError } from '../base/errors';
import { ServerClock } from '../machines/server-clock';
import { PROVIDER_LABEL } from '../base/tokens';
import { buildUserData, serializeUserData } from '../agent/user-data';
import { runNix, type NixOptions } from '../nix/run';
import type { Machine } from '../providers/types';
import { newRunId } from '../providers/tags';
import { createMachineKeys, readLoginKey, removeMachineKeys, type MachineKeys } from '../ssh/keys';
import { writeKnownHosts } from '../ssh/known-hosts';
import { waitForSsh, type SshSession } from '../ssh/session';
import { builderKeyPath, removeBuilderKeyLink, workerStoreUrl } from './builders';
import type { ReadyWorker, WorkerContext, WorkerInfo, WorkersEvent, WorkersRequest } from './types';

const CLEANUP_TIMEOUT_MS = 120_000;
/** A create (with its own retries and lost-answer lookups) that takes longer than this has failed. */
const CREATE_TIMEOUT_MS = 180_000;

interface Slot {
  info: WorkerInfo;
  keys?: MachineKeys;
  /** Server time (ms) at which the worker was destroyed or given up on; undefined while it lives. */
  endedAt?: number;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly clock = new ServerClock();
  private deadline: Date | undefined;

  constructor(
    private readonly ctx: WorkerContext,
    private readonly emit: (e: WorkersEvent) => void,
  ) {}

  /** By name (thebacknd-2 before thebacknd-10); creates run in parallel, so creation order says nothing. */
  get workers(): WorkerInfo[] {
    return this.slots.map((s) => ({ ...s.info })).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  }

  /**
   * Creates `req.count` workers at once. A create request is never abandoned half-way: the cloud may still make
   * the machine after the client gave up, and then nothing here would know to destroy it. So cancellation and a
   * sibling's failure are acted on once every request has been answered; release then destroys what exists.
   */
  async create(req: WorkersRequest, signal: AbortSignal): Promise<void> {
    const { serverTime } = await this.ctx.provider.list(signal);
    this.clock.observe(serverTime);
    this.deadline = new Date(serverTime.getTime() + req.maxAgeMinutes * 60_000);
    const results = await Promise.allSettled(Array.from({ length: req.count }, () => this.createOne(req)));
    signal.throwIfAborted();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async createOne(req: WorkersRequest): Promise<void> {
    const runId = newRunId();
    const slot: Slot = { info: { runId, name: runId, state: 'creating', builds: 0 } };
    this.slots.push(slot);
    const keys = await createMachineKeys(this.ctx.storageDir, runId);
    slot.keys = keys;
    const userData = serializeUserData(
      buildUserData({
        hostKey: { private: keys.hostPrivateKey, public: keys.hostPublicKey },
        authorizedKeys: [keys.loginPublicKey],
        target: { kind: 'bare' },
      }),
    );
    const p = req.placement;
    const machine = await this.ctx.provider.create(
      { region: p.region, size: p.size, image: p.image, userData, deadline: this.deadline!, runId },
      AbortSignal.timeout(CREATE_TIMEOUT_MS),
    );
    this.update(slot, { name: machine.name, state: 'starting', machine });
    this.emit({ type: 'log', line: `Created ${machine.name} (${PROVIDER_LABEL[p.provider]} ${machine.id}, ${p.region}, ${p.size}); deadline ${this.deadline!.toISOString()}.` });
  }

  /** Waits for every worker in parallel; resolves when all are ready, rejects on the first that cannot be. */
  async waitReady(req: WorkersRequest, signal: AbortSignal): Promise<ReadyWorker[]> {
    const sibling = new AbortController();
    const both = AbortSignal.any([signal, sibling.signal]);
    const results = await Promise.allSettled(
      this.slots.map((s) =>
        this.readyOne(s, req, both).catch((err: unknown) => {
          sibling.abort();
          throw err;
        }),
      ),
    );
    signal.throwIfAborted();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !isAbort(r.reason));
    if (failed) throw failed.reason;
    return results.map((r) => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    });
  }

  private async readyOne(slot: Slot, req: WorkersRequest, signal: AbortSignal): Promise<ReadyWorker> {
    const keys = slot.keys!;
    let machine = slot.info.machine!;
    const until = Date.now() + (req.runningTimeoutMs ?? 10 * 60_000);
    while (!(machine.status === 'running' && (machine.ipv4 ?? machine.ipv6))) {
      if (Date.now() > until) {
        throw new UserError(`${machine.name} did not reach the running state within ${Math.round((req.runningTimeoutMs ?? 600_000) / 60_000)} minutes.`);
      }
      await delay(req.pollMs ?? 2_000, undefined, { signal });
      const next = await this.ctx.provider.get(machine.id, signal);
      if (!next) throw new UserError(`${machine.name} disappeared while it was starting.`);
      machine = next;
    }
    const ip = (machine.ipv4 ?? machine.ipv6)!;
    this.update(slot, { machine, ip });
    await writeKnownHosts(keys, ip);
    const keyPath = await builderKeyPath(keys, slot.info.runId);

    this.emit({ type: 'log', line: `Waiting for SSH on ${machine.name} (${ip}) with its pinned host key…` });
    const session = await waitForSsh(
      { host: ip, privateKey: await readLoginKey(keys), hostPublicKey: keys.hostPublicKey },
      // The base image installs the pinned key before sshd starts; 'retry' still never authenticates to another key.
      { deadlineMs: req.sshTimeoutMs ?? 10 * 60_000, intervalMs: Math.min(2_000, req.pollMs ?? 2_000), hostKeyMismatch: 'retry', signal },
    );
    // Its real number of cores (the builder line's parallel jobs by default), from the worker itself.
    const cores = await coresOf(session, signal).finally(() => session.close());

    // The path the build takes: local Nix → OpenSSH → the worker's nix-store, pinned by the base64 host key.
    await pingStore(workerStoreUrl({ ip, keys }), { ...this.ctx.nix, signal }, machine.name);
    this.update(slot, { state: 'ready' });
    this.emit({ type: 'log', line: `${machine.name} is ready: its Nix store answers over SSH with the pinned key.` });
    return { runId: slot.info.runId, machine, ip, keys, builderKeyPath: keyPath, ...(cores ? { cores } : {}) };
  }

  /** Counts a derivation Nix handed to the worker at `ip`; returns its name. */
  countBuild(ip: string): string | undefined {
    const slot = this.slots.find((s) => s.info.ip === ip);
    if (!slot) return undefined;
    this.update(slot, { builds: slot.info.builds + 1 });
    return slot.info.name;
  }

  /** The worker name for an IP, for messages. */
  nameOf(ip: string): string | undefined {
    return this.slots.find((s) => s.info.ip === ip)?.info.name;
  }

  /**
   * Destroys every worker this pool tried to create (`keep`: leaves those that exist, with their keys and deadline).
   * Never throws: a worker that cannot be destroyed now is still reaped at its deadline, and is reported so.
   */
  async release(mode: 'destroy' | 'keep'): Promise<void> {
    const fresh = AbortSignal.timeout(CLEANUP_TIMEOUT_MS);
    await Promise.all(
      this.slots.map(async (slot) => {
        const { info } = slot;
        if (mode === 'keep' && info.machine) {
          this.update(slot, { state: 'kept' });
          this.emit({
            type: 'log',
            line: `Keeping ${info.name}${info.ip ? ` (${info.ip})` : ''} as asked; it is still destroyed at its deadline ${this.deadline?.toISOString() ?? ''}.`,
          });
          return;
        }
        try {
          const n = await this.ctx.provider.destroyByRunId(info.runId, fresh);
          slot.endedAt = this.clock.now();
          this.update(slot, { state: 'destroyed' });
          if (n > 0) this.emit({ type: 'log', line: `Destroyed ${info.name}.` });
          await removeMachineKeys(this.ctx.storageDir, info.runId);
          await removeBuilderKeyLink(info.runId);
        } catch (err) {
          slot.endedAt = this.clock.now();
          this.update(slot, { state: 'orphaned' });
          this.emit({ type: 'log', line: `Could not destroy ${info.name} now (${messageOf(err)}); the reaper destroys it at its deadline.` });
        }
      }),
    );
  }

  /** Each worker's billable time: provider created-at to its end (or to now, and its time left, if kept). */
  lifetimes(): { name: string; ms: number; kept: boolean; msToDeadline?: number }[] {
    const now = this.clock.now();
    return this.slots
      .filter((s) => s.info.machine)
      .map((s) => {
        const created = Date.parse(s.info.machine!.createdAt);
        const end = s.endedAt ?? now;
        const kept = s.info.state === 'kept' || s.info.state === 'orphaned';
        const ms = Number.isNaN(created) ? 0 : end - created;
        return { name: s.info.name, ms, kept, ...(kept && this.deadline ? { msToDeadline: this.deadline.getTime() - end } : {}) };
      });
  }

  private update(slot: Slot, patch: Partial<WorkerInfo> & { machine?: Machine }): void {
    slot.info = { ...slot.info, ...patch };
    this.emit({ type: 'worker', worker: { ...slot.info } });
  }
}

/** `nproc` on the worker; undefined when it does not answer with a number (the size's CPU count is used then). */
async function coresOf(session: SshSession, signal: AbortSignal): Promise<number | undefined> {
  const r = await session.run('nproc', { signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]) }).catch((err: unknown) => {
    if (signal.aborted) throw err;
    return undefined;
  });
  const n = Number(r?.stdout.trim());
  return r?.code === 0 && Number.isInteger(n) && n >= 1 && n <= 1024 ? n : undefined;
}

/** `nix store ping` (Nix 2.4–2.18), or `nix store info`, its name since 2.19, where `ping` is gone. */
async function pingStore(url: string, opts: NixOptions, name: string): Promise<void> {
  const what = `Reaching the Nix store of ${name}`;
  try {
    await runNix(['store', 'ping', '--store', url], opts, what);
  } catch (err) {
    if (!(err instanceof UserError) || !/not a recogni[sz]ed command|unrecognised command|unknown command/i.test(`${err.message}\n${err.detail ?? ''}`)) throw err;
    await runNix(['store', 'info', '--store', url], opts, what);
  }
}
