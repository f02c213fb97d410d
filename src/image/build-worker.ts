// Builds the base image on one temporary server, for a computer whose Nix cannot build x86_64-linux (macOS, Arm, no
// Nix). The Thebacknd image does not exist yet, so the worker boots a stock image (Hetzner debian-12, DigitalOcean
// debian-12-x64) with cloud-init user-data holding a host key and a login key made here (cloud-init.ts): the first
// SSH connection already checks the pinned host key. On the worker: Nix is installed if missing (the official
// installer), the image flake (the extension's nix/ folder) is copied over and its image output for the cloud is
// built. The caller then imports the result from the worker (index.ts). The worker is created like every machine
// (thebacknd-N, tagged/labelled, with a deadline renewed while this runs, so the reaper destroys it if the editor
// dies) and is destroyed when this ends, whatever the outcome: success, failure, cancel or a signal that aborts.

import { execFile } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { UserError, messageOf } from '../base/errors';
import { PROVIDER_LABEL } from '../base/tokens';
import { newRunId } from '../providers/tags';
import type { CloudProvider, Machine, ProviderId } from '../providers/types';
import { generateEd25519 } from '../base/ed25519';
import { waitForSsh, type SshSession } from '../ssh/session';
import { stockWorkerUserData } from './cloud-init';
import { isImageFileName } from './files';
import { shellQuote } from './rescue-ssh';
import type { ImageSource } from './source';

/** What the build worker boots: each cloud's stock Debian, with cloud-init. */
export const STOCK_IMAGE: Record<ProviderId, string> = { hetzner: 'debian-12', digitalocean: 'debian-12-x64' };
/**
 * The build worker's size unless one is given, not the machines' default: evaluating NixOS and then
 * make-disk-image's build VM (1 GiB of its own, nixpkgs' memSize default) do not fit in DigitalOcean's
 * s-1vcpu-1gb. Both have 4 GiB.
 */
export const BUILD_WORKER_SIZE: Record<ProviderId, string> = { hetzner: 'cx22', digitalocean: 's-2vcpu-4gb' };
/** The flake output built for each cloud (nix/flake.nix). */
export const IMAGE_OUTPUT: Record<ProviderId, string> = { hetzner: 'hetzner-image', digitalocean: 'digitalocean-image' };

const REMOTE_FLAKE = '/root/thebacknd-image';
const REMOTE_RESULT = '/root/thebacknd-image-result';
const NIX_PATH = 'export PATH="/nix/var/nix/profiles/default/bin:$PATH"';

/** On the worker: Nix, from the official installer (multi-user), unless one is there already. */
export const INSTALL_NIX = [
  'set -eu',
  NIX_PATH,
  'if command -v nix >/dev/null; then echo "Nix is installed: $(nix --version)"; exit 0; fi',
  'echo "Installing Nix (https://nixos.org/nix/install)…"',
  'curl -fsSL --retry 3 https://nixos.org/nix/install -o /tmp/nix-install',
  'sh /tmp/nix-install --daemon --yes </dev/null',
].join('\n');

export interface BuildWorkerOptions {
  provider: CloudProvider;
  region: string;
  size: string;
  /** The image flake: the extension's nix/ folder. */
  flakeDir: string;
  /** Default STOCK_IMAGE of the provider. */
  systemImage?: string;
  signal?: AbortSignal;
  log: (line: string) => void;
  onStatus: (message: string) => void;
  /** Default 2 s. */
  pollMs?: number;
  /** Until the worker runs; default 10 min. */
  runningTimeoutMs?: number;
  /** Until SSH answers with the pinned host key; default 10 min. */
  sshTimeoutMs?: number;
  /** The worker's deadline is this far ahead, renewed every third of it; default 90 min. */
  leaseMinutes?: number;
}

/** The built image, on the worker, while the worker lives. */
export interface BuiltImage {
  worker: Machine;
  /** Its path on the worker. */
  path: string;
  /** A stream of it, relayed from the worker over the pinned connection. */
  source: ImageSource;
  /** PUTs it to a presigned URL from the worker; the URL travels on stdin, never on a command line. */
  upload(url: string, signal?: AbortSignal): Promise<void>;
}

export async function withBuildWorker<T>(o: BuildWorkerOptions, use: (image: BuiltImage) => Promise<T>): Promise<T> {
  const p = o.provider.id;
  const runId = newRunId();
  const host = generateEd25519('thebacknd-build-host');
  const login = generateEd25519('thebacknd-build-login');
  const leaseMs = (o.leaseMinutes ?? 90) * 60_000;
  let createRequested = false;
  let machine: Machine | undefined;
  let lease: ReturnType<typeof setInterval> | undefined;
  let session: SshSession | undefined;
  try {
    o.onStatus(`creating a temporary ${PROVIDER_LABEL[p]} server to build the image`);
    createRequested = true;
    machine = await o.provider.create(
      {
        region: o.region,
        size: o.size,
        image: o.systemImage ?? STOCK_IMAGE[p],
        userData: stockWorkerUserData({ hostPrivateKey: host.privateKey, hostPublicKey: host.publicKey, loginPublicKey: login.publicKey }),
        deadline: new Date(Date.now() + leaseMs),
        runId,
        ipv4: true,
      },
      o.signal,
    );
    const m = machine;
    o.log(`Build worker ${m.name} (id ${m.id}) created from ${o.systemImage ?? STOCK_IMAGE[p]}; it is destroyed when the import ends, or by the reaper at its deadline.`);
    lease = setInterval(() => {
      o.provider.setDeadline(m.id, new Date(Date.now() + leaseMs)).catch((e: unknown) => o.log(`Could not extend ${m.name}'s deadline: ${messageOf(e)}`));
    }, leaseMs / 3);
    lease.unref?.();

    o.onStatus(`starting ${m.name}`);
    const ip = await runningAddress(o, m);
    o.onStatus(`waiting for SSH on ${m.name} with its pinned host key`);
    // 'retry': a stock image's sshd may answer before cloud-init has installed the key; a wrong key never logs in.
    session = await waitForSsh(
      { host: ip, privateKey: login.privateKey, hostPublicKey: host.publicKey },
      { deadlineMs: o.sshTimeoutMs ?? 10 * 60_000, intervalMs: Math.min(2000, o.pollMs ?? 2000), hostKeyMismatch: 'retry', ...(o.signal ? { signal: o.signal } : {}) },
    );
    o.log(`Connected to ${m.name} (${ip}) with its pinned host key.`);
    const s = session;

    const file = await buildImage(s, m, o);
    return await use({
      worker: m,
      path: file.path,
      source: { label: `${m.name}:${file.path}`, size: file.size, compressed: file.path.endsWith('.zst'), open: () => relay(s, file.path) },
      upload: async (url, signal) => {
        await remote(s, `Uploading the image from ${m.name}`, `curl -fsS --retry 3 -T ${shellQuote(file.path)} -K -`, { ...o, signal }, `url = ${JSON.stringify(url)}\n`);
      },
    });
  } finally {
    if (lease) clearInterval(lease);
    session?.close();
    if (createRequested) await destroyWorker(o, runId, machine?.name ?? 'the build worker');
  }
}

/** By run id: also finds a worker whose create answer was lost. A fresh signal: a cancelled import cleans up. */
async function destroyWorker(o: BuildWorkerOptions, runId: string, name: string): Promise<void> {
  o.onStatus(`deleting ${name}`);
  try {
    await o.provider.destroyByRunId(runId, AbortSignal.timeout(120_000));
    o.log(`Build worker ${name} deleted.`);
  } catch (e) {
    o.log(`Could not delete ${name} now (${messageOf(e)}); the reaper destroys it at its deadline.`);
  }
}

/** On the worker: Nix if missing, the flake copied over, its image output built; the one image file it made. */
async function buildImage(s: SshSession, m: Machine, o: BuildWorkerOptions): Promise<{ path: string; size: number }> {
  const p = o.provider.id;
  o.onStatus(`installing Nix on ${m.name} (if missing)`);
  await remote(s, 'Installing Nix on the build worker', `bash -c ${shellQuote(INSTALL_NIX)}`, o);
  o.onStatus(`copying the image flake to ${m.name}`);
  await remote(s, 'Copying the image flake', `rm -rf ${REMOTE_FLAKE} && mkdir -p ${REMOTE_FLAKE} && tar -xzf - -C ${REMOTE_FLAKE}`, o, await tarFlake(o.flakeDir));
  o.onStatus(`building ${IMAGE_OUTPUT[p]} on ${m.name}`);
  await remote(
    s,
    `Building ${IMAGE_OUTPUT[p]} on ${m.name}`,
    `${NIX_PATH}; nix --extra-experimental-features 'nix-command flakes' build -L --out-link ${REMOTE_RESULT} path:${REMOTE_FLAKE}#${IMAGE_OUTPUT[p]}`,
    o,
  );
  const file = await builtFile(s, p, o);
  o.log(`Built ${file.path} (${file.size} bytes) on ${m.name}.`);
  return file;
}

async function runningAddress(o: BuildWorkerOptions, first: Machine): Promise<string> {
  let m = first;
  const until = Date.now() + (o.runningTimeoutMs ?? 10 * 60_000);
  while (!(m.status === 'running' && m.ipv4)) {
    if (Date.now() > until) throw new UserError(`${m.name} did not start within ${Math.round((o.runningTimeoutMs ?? 600_000) / 60_000)} minutes.`, { kind: 'retry' });
    await delay(o.pollMs ?? 2000, undefined, o.signal ? { signal: o.signal } : {});
    const next = await o.provider.get(m.id, o.signal);
    if (!next) throw new UserError(`${m.name} disappeared while it was starting.`);
    m = next;
  }
  return m.ipv4;
}

/** A command on the worker, its output to the log; a failure names the step and the last lines. */
async function remote(s: SshSession, what: string, command: string, o: Pick<BuildWorkerOptions, 'log' | 'signal'>, stdin?: string | Buffer): Promise<void> {
  let tail = '';
  const take = (d: Buffer) => {
    const text = d.toString();
    tail = (tail + text).slice(-2000);
    for (const line of text.split('\n')) if (line.trim()) o.log(line);
  };
  const r = await s.exec(command, { onStdout: take, onStderr: take, ...(stdin !== undefined ? { stdin } : {}), ...(o.signal ? { signal: o.signal } : {}) });
  o.signal?.throwIfAborted();
  if (r.code !== 0) {
    // Nix ends with a hint (`--show-trace`); its reason is the last `error:` line.
    const lines = tail.trim().split('\n');
    const last =
      [...lines]
        .reverse()
        .find((l) => /^\s*error:/.test(l))
        ?.trim() ??
      lines[lines.length - 1] ??
      '';
    throw new UserError(`${what} failed (${r.code === null ? 'the connection dropped' : `exit ${r.code}`})${last ? `: ${last}` : ''}.`, undefined, tail.trim() || undefined);
  }
}

/** The one image file in the build result on the worker, and its size. */
async function builtFile(s: SshSession, p: ProviderId, o: Pick<BuildWorkerOptions, 'signal'>): Promise<{ path: string; size: number }> {
  const r = await s.run(`cd ${REMOTE_RESULT}/ && for f in *; do printf '%s\\t%s\\n' "$(stat -Lc %s "$f")" "$f"; done`, o.signal ? { signal: o.signal } : {});
  const files = r.stdout
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((f): f is [string, string] => f.length === 2 && isImageFileName(f[1]!, p));
  if (r.code !== 0 || files.length !== 1) {
    throw new UserError(`The build on the worker left ${files.length} image files in its result (expected one ${IMAGE_OUTPUT[p]} file).`, undefined, r.stderr.trim() || undefined);
  }
  const [size, name] = files[0]!;
  return { path: `${REMOTE_RESULT}/${name}`, size: Number(size) };
}

/** `cat` on the worker, flow-controlled: the relay reads as fast as the other side takes it. */
function relay(s: SshSession, path: string): Readable {
  const out = new PassThrough();
  s.stream(`cat ${shellQuote(path)}`).then(
    (ch) => {
      ch.on('error', (e: Error) => out.destroy(e));
      ch.pipe(out);
    },
    (e: unknown) => out.destroy(e instanceof Error ? e : new Error(String(e))),
  );
  return out;
}

/** The flake folder as a gzipped tar (a few files), without build results. */
async function tarFlake(dir: string): Promise<Buffer> {
  const { stdout } = await promisify(execFile)('tar', ['-czf', '-', '--exclude=./result*', '-C', dir, '.'], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}
