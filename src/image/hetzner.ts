// Imports the Hetzner base image (nix build ./nix#hetzner-image → nixos.img.zst). Hetzner takes no image uploads,
// so, as usual there: a temporary server is booted into the rescue system, the image is written to its disk over
// SSH, the disk is snapshotted, and the server is deleted. The snapshot id is the setting thebacknd.hetzner.image.
//
// The temporary server is made by the provider like any machine: named thebacknd-N, labelled, with a deadline
// (renewed while the import runs), so a crash leaves a machine the reaper destroys. Whatever happens, the server
// and the SSH key are deleted before this returns, and a snapshot of a failed import is removed.
// vscode-free: the command and the CLI (`thebacknd import-image`) both drive it.

import fs from 'node:fs';
import { UserError, isAbort, messageOf } from '../base/errors';
import { toUserError } from '../providers/errors';
import { ApiError, isLostAnswer, sleep } from '../providers/retry';
import { LABEL_RUN, newRunId } from '../providers/tags';
import type { CloudProvider, Machine } from '../providers/types';
import { checkZstd, findImageFile } from './files';
import type { HetznerImageApi, HzAction } from './hetzner-api';
import { connectRescue, writeImage, type RescueSession } from './rescue-ssh';
import { generateEd25519 } from '../base/ed25519';

export type HetznerImportPhase = 'server' | 'rescue' | 'connect' | 'write' | 'snapshot' | 'cleanup' | 'done';

export interface HetznerImportProgress {
  phase: HetznerImportPhase;
  /** The temporary server's name, once it exists. */
  server?: string;
  /** Write: bytes sent of total (the file as it is, compressed). */
  sent?: number;
  total?: number;
  /** Snapshot: Hetzner's progress, 0–100. */
  percent?: number;
  /** Connect: the accepted rescue host key. */
  hostKey?: string;
}

export interface HetznerImportOptions {
  /** The image file, or a build output directory holding one (*.img.zst, or a raw *.img). */
  image: string;
  /** The snapshot's description and its `thebacknd-image` label, e.g. `thebacknd-base-20261123-1743`. */
  name: string;
  /** Location and server type of the temporary server. The snapshot then boots on types with at least its disk. */
  location: string;
  serverType: string;
  /** What the temporary server is created with before it boots the rescue system; default debian-12. */
  systemImage?: string;
  /** The Hetzner provider: creates and destroys the temporary server. */
  provider: CloudProvider;
  api: HetznerImageApi;
  /** The disk as the rescue system sees it; default /dev/sda. */
  device?: string;
  /** SSH port of the rescue system; default 22. */
  sshPort?: number;
  signal?: AbortSignal;
  onProgress?: (p: HetznerImportProgress) => void;
  /** Lines for the log (each step, rescue host key, cleanup problems). */
  log?: (line: string) => void;
  /** Default 2 s. */
  pollIntervalMs?: number;
  /** Until the new server runs; default 10 min. */
  serverTimeoutMs?: number;
  /** Until the rescue system accepts the key; default 10 min. */
  sshTimeoutMs?: number;
  /** Until the snapshot is made; default 60 min. */
  snapshotTimeoutMs?: number;
  /** The temporary server's deadline is this far ahead, renewed every third of it; default 30 min. */
  leaseMinutes?: number;
}

export interface HetznerImportResult {
  imageId: string;
  name: string;
  /** The rescue system's host key, accepted on first use. */
  hostKey: string;
  /** Servers need at least this disk (GB) to boot the snapshot. */
  diskGb: number;
  /** Cleanup that failed although the image was made (e.g. the server could not be deleted yet). */
  warnings: string[];
}

/** Hetzner label values: ≤ 63 characters, alphanumeric at both ends. */
const LABEL_VALUE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
export const LABEL_IMAGE = 'thebacknd-image';

export async function importHetznerImage(o: HetznerImportOptions): Promise<HetznerImportResult> {
  if (o.provider.id !== 'hetzner') throw new Error('importHetznerImage needs the Hetzner provider');
  const file = findImageFile(o.image, 'hetzner');
  const compressed = file.endsWith('.zst');
  if (compressed) checkZstd(file);
  if (!LABEL_VALUE.test(o.name)) {
    throw new UserError(`"${o.name}" is not a valid image name: up to 63 letters, digits, dots, dashes and underscores, starting and ending with a letter or digit.`);
  }
  const total = fs.statSync(file).size;
  const log = o.log ?? (() => undefined);
  const runId = newRunId();
  const keyName = `${runId}-import`;
  const login = generateEd25519(keyName);
  const leaseMs = (o.leaseMinutes ?? 30) * 60_000;
  const poll = o.pollIntervalMs ?? 2000;

  let keyId: number | undefined;
  let keyRequested = false;
  let machine: Machine | undefined;
  let createRequested = false;
  let session: RescueSession | undefined;
  let hostKey = '';
  let snapshotId: number | undefined;
  let lease: ReturnType<typeof setInterval> | undefined;
  let done = false;
  const progress = (p: HetznerImportProgress) => o.onProgress?.({ ...(machine ? { server: machine.name } : {}), ...p });

  try {
    progress({ phase: 'server' });
    keyRequested = true;
    keyId = await createKey(o, keyName, login.publicKey, { [LABEL_RUN]: runId });
    createRequested = true;
    machine = await o.provider.create(
      // With the import key, Hetzner e-mails no root password (and the provider makes no project key for it).
      { region: o.location, size: o.serverType, image: o.systemImage ?? 'debian-12', userData: '', deadline: new Date(Date.now() + leaseMs), runId, ipv4: true, sshKeys: [String(keyId)] },
      o.signal,
    );
    log(`Temporary server ${machine.name} (id ${machine.id}) created; it is destroyed when the import ends, or by the reaper at its deadline.`);
    progress({ phase: 'server' });
    // Keep the deadline ahead of the import, so that no reaper takes the server away mid-way.
    const m = machine;
    lease = setInterval(() => {
      o.provider.setDeadline(m.id, new Date(Date.now() + leaseMs)).catch((e: unknown) => log(`Could not extend ${m.name}'s deadline: ${messageOf(e)}`));
    }, leaseMs / 3);
    lease.unref?.();
    const id = Number(machine.id);
    const server = await until(
      `${machine.name} to start`,
      async () => {
        const s = await o.api.server(id, o.signal);
        if (!s) throw new UserError(`The temporary server ${m.name} disappeared before the import could use it.`);
        return s.status === 'running' && !s.locked ? s : undefined;
      },
      o.serverTimeoutMs ?? 10 * 60_000,
      poll,
      o.signal,
    );
    const address = server.ipv4 ?? machine.ipv4;
    if (!address) throw new UserError(`${machine.name} has no IPv4 address to reach its rescue system.`);

    progress({ phase: 'rescue' });
    await waitAction(o, await o.api.enableRescue(id, keyId, o.signal), 'enable the rescue system', 5 * 60_000);
    await waitAction(o, await o.api.reset(id, o.signal), 'reset the server into the rescue system', 5 * 60_000);
    log(`${machine.name} is booting the rescue system; connecting to ${address}.`);

    progress({ phase: 'connect' });
    session = await connectRescue(
      { host: address, port: o.sshPort, privateKey: login.privateKey },
      { timeoutMs: o.sshTimeoutMs, signal: o.signal, onAttempt: log },
    );
    log(`Connected to the rescue system of ${machine.name}; its host key ${session.fingerprint} was accepted on first use (rescue host keys cannot be known in advance).`);
    hostKey = session.fingerprint;
    progress({ phase: 'connect', hostKey });

    progress({ phase: 'write', sent: 0, total });
    let last = 0;
    await writeImage(session, file, {
      device: o.device ?? '/dev/sda',
      compressed,
      signal: o.signal,
      onBytes: (sent) => {
        const now = Date.now();
        if (now - last < 250 && sent < total) return;
        last = now;
        progress({ phase: 'write', sent, total });
      },
    });
    progress({ phase: 'write', sent: total, total });
    log(`Wrote ${file} to ${o.device ?? '/dev/sda'} of ${machine.name}.`);
    session.end();
    session = undefined;

    progress({ phase: 'snapshot', percent: 0 });
    const labels = { [LABEL_IMAGE]: o.name, [LABEL_RUN]: runId };
    const snap = await createSnapshot(o, id, labels);
    snapshotId = snap.imageId;
    if (snap.action) await waitAction(o, snap.action, 'snapshot the disk', o.snapshotTimeoutMs ?? 60 * 60_000, (percent) => progress({ phase: 'snapshot', percent }));
    const image = await until(
      `snapshot ${snapshotId} to be available`,
      async () => {
        const i = await o.api.image(snapshotId!, o.signal);
        if (!i) throw new UserError(`Hetzner lost snapshot ${snapshotId} while making it.`);
        if (i.status === 'unavailable') throw new UserError(`Hetzner could not make snapshot ${snapshotId} (status unavailable).`);
        return i.status === 'available' ? i : undefined;
      },
      o.snapshotTimeoutMs ?? 60 * 60_000,
      poll,
      o.signal,
    );
    log(`Snapshot ${image.id} (${o.name}) is available; servers need a disk of at least ${image.diskSize} GB to boot it.`);
    done = true;
    progress({ phase: 'cleanup' });
    const warnings = await cleanup();
    progress({ phase: 'done', percent: 100 });
    return { imageId: String(image.id), name: o.name, hostKey, diskGb: image.diskSize, warnings };
  } catch (caught) {
    const err = explain(caught);
    progress({ phase: 'cleanup' });
    const problems = await cleanup();
    if (isAbort(err) || !problems.length) throw err;
    const text = problems.join('\n');
    if (err instanceof UserError) throw new UserError(err.message, err.fix, [err.detail, text].filter(Boolean).join('\n'));
    throw new UserError(messageOf(err), undefined, text);
  }

  /** Always runs, whatever the outcome, with its own time limit: a cancelled import still cleans up. */
  async function cleanup(): Promise<string[]> {
    const problems: string[] = [];
    const signal = AbortSignal.timeout(3 * 60_000);
    if (lease) clearInterval(lease);
    session?.end();
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        const text = `${what}: ${messageOf(e)}`;
        problems.push(text);
        log(text);
      }
    };
    if (machine) {
      const m = machine;
      await step(`Could not delete the temporary server ${m.name} (id ${m.id}); the reaper destroys it at its deadline`, async () => {
        await o.provider.destroy(m.id, signal);
        log(`Temporary server ${m.name} deleted.`);
      });
    } else if (createRequested) {
      // The create may have gone through although its answer never came.
      await step('Could not look for the temporary server', () => o.provider.destroyByRunId(runId, signal));
    }
    if (keyRequested) {
      await step(`Could not delete the SSH key ${keyName}`, async () => {
        const id = keyId ?? (await o.api.findSshKey(keyName, signal));
        if (id !== undefined) await o.api.deleteSshKey(id, signal);
      });
    }
    if (!done && snapshotId !== undefined) {
      const s = snapshotId;
      await step(`Could not delete the unfinished snapshot ${s}; delete it in the Hetzner console`, () => o.api.deleteImage(s, signal));
    }
    return problems;
  }
}

/** POST /ssh_keys once; a lost answer or a clash on the name is resolved by looking the name up. */
async function createKey(o: HetznerImportOptions, name: string, publicKey: string, labels: Record<string, string>): Promise<number> {
  try {
    return await o.api.createSshKey(name, publicKey, labels, o.signal);
  } catch (e) {
    if (o.signal?.aborted) throw o.signal.reason;
    const clash = e instanceof ApiError && e.status === 409;
    if (!(clash || isLostAnswer(e))) throw explain(e);
    const id = await o.api.findSshKey(name, o.signal);
    if (id === undefined) throw explain(e);
    return id;
  }
}

/** create_image once; after a lost answer, the snapshot is found by the run id label. */
async function createSnapshot(o: HetznerImportOptions, serverId: number, labels: Record<string, string>): Promise<{ imageId: number; action?: HzAction }> {
  try {
    return await o.api.createSnapshot(serverId, o.name, labels, o.signal);
  } catch (e) {
    if (o.signal?.aborted) throw o.signal.reason;
    if (!isLostAnswer(e)) throw explain(e);
    const found = await o.api.snapshots({ [LABEL_RUN]: labels[LABEL_RUN]! }, o.signal);
    if (!found[0]) throw explain(e);
    return { imageId: found[0].id };
  }
}

async function waitAction(
  o: HetznerImportOptions,
  action: HzAction,
  what: string,
  timeoutMs: number,
  onPercent?: (p: number) => void,
): Promise<void> {
  let shown = -1;
  await until(
    `Hetzner to ${what}`,
    async () => {
      const a = action.status === 'running' ? await o.api.action(action.id, o.signal) : action;
      action = a;
      if (a.progress !== shown) onPercent?.((shown = a.progress));
      if (a.status === 'error') throw new UserError(`Hetzner could not ${what}: ${a.error?.message ?? 'the action failed'}.`);
      return a.status === 'success' ? a : undefined;
    },
    timeoutMs,
    o.pollIntervalMs ?? 2000,
    o.signal,
  );
}

/** Polls quickly at first (short actions end in well under a second), then every `pollMs`. */
async function until<T>(what: string, get: () => Promise<T | undefined>, timeoutMs: number, pollMs: number, signal?: AbortSignal): Promise<T> {
  const end = Date.now() + timeoutMs;
  let delay = Math.min(250, pollMs);
  for (;;) {
    signal?.throwIfAborted();
    let v: T | undefined;
    try {
      v = await get();
    } catch (e) {
      throw explain(e);
    }
    if (v !== undefined) return v;
    if (Date.now() > end) throw new UserError(`Gave up waiting for ${what} after ${Math.round(timeoutMs / 1000)} s.`, { kind: 'retry' });
    await sleep(delay, signal);
    delay = Math.min(pollMs, delay * 2);
  }
}

function explain(e: unknown): unknown {
  return e instanceof UserError || isAbort(e) ? e : toUserError('hetzner', e);
}
