// Imports the Hetzner base image (nix build ./nix#hetzner-image → nixos.img.zst). Hetzner takes no image uploads,
// so, as usual there: a temporary server is booted into the rescue system, the image is written to its disk over
// SSH, the disk is snapshotted, and the server is deleted. The snapshot id is the setting thebacknd.hetzner.image.
//
// The temporary server is made by the provider like any machine (hetzner-rescue-server.ts), the disk is snapshotted
// by hetzner-snapshot.ts. Whatever happens, the server and the SSH key are deleted before this returns, and a
// snapshot of a failed import is removed.
// vscode-free: the command and the CLI (`thebacknd import-image`) both drive it.

import { UserError, isAbort, messageOf } from '../base/errors';
import { checkZstd, findImageFile } from './files';
import { RescueServer, type RescueServerOptions } from './hetzner-rescue-server';
import { snapshotDisk } from './hetzner-snapshot';
import { explain } from './hetzner-wait';
import { writeImage, type RescueSession } from './rescue-ssh';
import { fileSource, type ImageSource } from './source';

export { LABEL_IMAGE } from './hetzner-snapshot';

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

export interface HetznerImportOptions extends RescueServerOptions {
  /** The image file, or a build output directory holding one (*.img.zst, or a raw *.img), or a stream of it. */
  image: string | ImageSource;
  /** The snapshot's description and its `thebacknd-image` label, e.g. `thebacknd-base-20261123-1743`. */
  name: string;
  /** The disk as the rescue system sees it; default /dev/sda. */
  device?: string;
  onProgress?: (p: HetznerImportProgress) => void;
  /** Lines for the log (each step, rescue host key, cleanup problems). */
  log?: (line: string) => void;
  /** Until the snapshot is made; default 60 min. */
  snapshotTimeoutMs?: number;
  /** The write fails after this long without progress (default 2 min; see WriteImageOptions). */
  writeStallMs?: number;
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

/** Server → rescue → write → snapshot; the server, the key and an unfinished snapshot are removed whatever happens. */
export async function importHetznerImage(o: HetznerImportOptions): Promise<HetznerImportResult> {
  if (o.provider.id !== 'hetzner') throw new Error('importHetznerImage needs the Hetzner provider');
  const source = checkedSource(o);
  const log = o.log ?? (() => undefined);
  const server = new RescueServer(o, log);
  const progress = (p: HetznerImportProgress) => o.onProgress?.({ ...(server.name ? { server: server.name } : {}), ...p });
  let snapshotId: number | undefined;
  let done = false;

  try {
    progress({ phase: 'server' });
    await server.create();
    progress({ phase: 'server' });
    const { id, address } = await server.running();

    progress({ phase: 'rescue' });
    await server.bootRescue(id, address);
    progress({ phase: 'connect' });
    const session = await server.connect(address);
    const hostKey = session.fingerprint;
    progress({ phase: 'connect', hostKey });

    await writeToDisk(o, session, source, progress);
    log(`Wrote ${source.label} to ${o.device ?? '/dev/sda'} of ${server.name}.`);
    server.disconnect();

    progress({ phase: 'snapshot', percent: 0 });
    const image = await snapshotDisk({
      api: o.api,
      signal: o.signal,
      pollIntervalMs: o.pollIntervalMs,
      serverId: id,
      name: o.name,
      runId: server.runId,
      timeoutMs: o.snapshotTimeoutMs,
      onId: (s) => (snapshotId = s),
      onPercent: (percent) => progress({ phase: 'snapshot', percent }),
    });
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
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        const text = `${what}: ${messageOf(e)}`;
        problems.push(text);
        log(text);
      }
    };
    await server.cleanup(signal, step);
    if (!done && snapshotId !== undefined) {
      const s = snapshotId;
      await step(`Could not delete the unfinished snapshot ${s}; delete it in the Hetzner console`, () => o.api.deleteImage(s, signal));
    }
    return problems;
  }
}

/** The file (or stream) and the name, checked before anything is created. */
function checkedSource(o: HetznerImportOptions): ImageSource {
  let source: ImageSource;
  if (typeof o.image === 'string') {
    const file = findImageFile(o.image, 'hetzner');
    if (file.endsWith('.zst')) checkZstd(file);
    source = fileSource(file);
  } else {
    source = o.image;
  }
  checkHetznerImageName(o.name);
  return source;
}

/** The snapshot's name is a label value. */
export function checkHetznerImageName(name: string): void {
  if (!LABEL_VALUE.test(name)) {
    throw new UserError(`"${name}" is not a valid image name: up to 63 letters, digits, dots, dashes and underscores, starting and ending with a letter or digit.`);
  }
}

/** The image onto the rescue system's disk, its progress at most every 250 ms. */
async function writeToDisk(o: HetznerImportOptions, session: RescueSession, source: ImageSource, progress: (p: HetznerImportProgress) => void): Promise<void> {
  const total = source.size;
  progress({ phase: 'write', sent: 0, total });
  let last = 0;
  await writeImage(session, source, {
    device: o.device ?? '/dev/sda',
    signal: o.signal,
    ...(o.writeStallMs !== undefined ? { stallMs: o.writeStallMs } : {}),
    onBytes: (sent) => {
      const now = Date.now();
      if (now - last < 250 && sent < total) return;
      last = now;
      progress({ phase: 'write', sent, total });
    },
  });
  progress({ phase: 'write', sent: total, total });
}
