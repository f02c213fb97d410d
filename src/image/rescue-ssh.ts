// SSH into a Hetzner rescue system and write a disk image to its disk. ssh2 is loaded on first use.
//
// The rescue system makes its own host key when it boots, and no API tells it in advance, so the first key that
// lets us in is accepted (trust on first use) and pinned for this connection; its fingerprint is reported so it
// can be compared with the console. Our login key is fresh and was given to the rescue system only, so the normal
// system that answers before the reset completes never lets us in and its key is never the one accepted.

import { createHash } from 'node:crypto';
import type { Client, ClientChannel } from 'ssh2';
import { UserError } from '../base/errors';
import { sleep } from '../providers/retry';
import type { ImageSource } from './source';

export interface RescueTarget {
  host: string;
  port?: number;
  /** OpenSSH private key of the login key given to enable_rescue. */
  privateKey: string;
}

export interface RescueSession {
  /** The accepted host key, `SHA256:…` as OpenSSH prints it. */
  readonly fingerprint: string;
  readonly client: Client;
  end(): void;
}

export interface ConnectRescueOptions {
  /** How long the rescue system may take to come up; default 10 min. */
  timeoutMs?: number;
  /** The longest pause between attempts (they start at 0.5 s); default 3 s. */
  retryDelayMs?: number;
  signal?: AbortSignal;
  /** Each failed attempt, for the log. */
  onAttempt?: (message: string) => void;
}

/** `SHA256:<base64, no padding>` of a raw SSH public key blob, as `ssh-keygen -lf` prints it. */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Retries until the rescue system accepts our key (it refuses, or nothing answers, while it boots). */
export async function connectRescue(target: RescueTarget, opts: ConnectRescueOptions = {}): Promise<RescueSession> {
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  const deadline = Date.now() + timeoutMs;
  const maxDelay = opts.retryDelayMs ?? 3000;
  let delay = Math.min(500, maxDelay);
  let last = 'no answer';
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      return await connectOnce(target, Math.max(1000, Math.min(20_000, deadline - Date.now())), opts.signal);
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      // A bug is not a rescue system still booting: say so at once rather than after the timeout.
      if (e instanceof TypeError || e instanceof ReferenceError) throw e;
      last = (e as Error).message;
      opts.onAttempt?.(`rescue system at ${target.host} not ready: ${last}`);
    }
    if (Date.now() + delay > deadline) {
      throw new UserError(`The rescue system at ${target.host} did not accept the import key within ${Math.round(timeoutMs / 1000)} s (last attempt: ${last}).`, { kind: 'retry' });
    }
    await sleep(delay, opts.signal);
    delay = Math.min(maxDelay, delay * 2);
  }
}

async function connectOnce(target: RescueTarget, readyTimeout: number, signal?: AbortSignal): Promise<RescueSession> {
  const { Client } = await import('../vendor/ssh2');
  const client = new Client();
  let hostKey: Buffer | undefined;
  return new Promise<RescueSession>((resolve, reject) => {
    const onAbort = () => {
      client.end();
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const settle = () => {
      signal?.removeEventListener('abort', onAbort);
      client.off('close', onClose);
    };
    // A server that hangs up before login without an error (an sshd going down for the reset, or MaxStartups)
    // would otherwise leave this attempt pending for ever: ssh2 clears its ready timer when the socket closes.
    const onClose = () => {
      settle();
      reject(new Error('the connection was closed before login'));
    };
    client.on('close', onClose);
    client.on('ready', () => {
      settle();
      // Later errors (a dropped connection) surface on the channel that is in use.
      client.removeAllListeners('error');
      client.on('error', () => undefined);
      resolve({ fingerprint: sshFingerprint(hostKey!), client, end: () => client.end() });
    });
    client.on('error', (e: Error & { level?: string }) => {
      settle();
      client.end();
      reject(new Error(e.level === 'client-authentication' ? 'the import key was refused' : e.message));
    });
    client.connect({
      host: target.host,
      port: target.port ?? 22,
      username: 'root',
      privateKey: target.privateKey,
      readyTimeout: readyTimeout,
      keepaliveInterval: 10_000,
      keepaliveCountMax: 6,
      // Trust on first use (see the top of this file): remember the key; it is pinned once our login succeeds.
      hostVerifier: (key: Buffer) => {
        hostKey = Buffer.from(key);
        return true;
      },
    });
  });
}

export interface WriteImageOptions {
  /** The rescue system's disk; `/dev/sda` on Hetzner Cloud. */
  device: string;
  signal?: AbortSignal;
  onBytes?: (sent: number) => void;
  /**
   * The write fails when no byte has gone out for this long while some are still to send (default 2 min): a dd
   * that stopped reading, or a relay that stopped sending, keeps a live connection that keepalives do not end.
   */
  stallMs?: number;
}

export const WRITE_STALL_MS = 2 * 60_000;

// Exit codes the script uses for the failures a user can act on.
const NO_DISK = 90;
const NO_ZSTD = 91;
const WRITE_FAILED = 92;

/** The remote side: decompress stdin onto the disk, flushed before it reports success. */
export function writeScript(device: string, compressed: boolean): string {
  return [
    'set -u -o pipefail',
    `dev=${shellQuote(device)}`,
    `[ -e "$dev" ] || { echo "no disk at $dev" >&2; exit ${NO_DISK}; }`,
    compressed ? `command -v zstd >/dev/null || { echo "zstd is not installed" >&2; exit ${NO_ZSTD}; }` : '',
    `${compressed ? 'zstd -dcq | ' : ''}dd of="$dev" bs=4M iflag=fullblock conv=fsync status=none || exit ${WRITE_FAILED}`,
    'sync',
  ]
    .filter(Boolean)
    .join('\n');
}

/** Streams the image into the script on the rescue system; resolves with the bytes sent. */
export async function writeImage(session: RescueSession, image: ImageSource, o: WriteImageOptions): Promise<number> {
  o.signal?.throwIfAborted();
  const channel = await new Promise<ClientChannel>((resolve, reject) =>
    session.client.exec(`bash -c ${shellQuote(writeScript(o.device, image.compressed))}`, (err, ch) => (err ? reject(err) : resolve(ch))),
  );
  const source = image.open();
  let sent = 0;
  let stderr = '';
  let readError: Error | undefined;
  // A chunk leaves the source only when the channel takes it (pipe's backpressure), so a remote side that stopped
  // reading stops the chunks as surely as a source that stopped giving them.
  const stallMs = o.stallMs ?? WRITE_STALL_MS;
  let stalled = false;
  let watchdog: NodeJS.Timeout | undefined;
  const watch = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      stalled = true;
      source.destroy();
      channel.close();
    }, stallMs);
  };
  watch();
  source.on('data', (chunk: Buffer) => {
    sent += chunk.length;
    o.onBytes?.(sent);
    if (sent < image.size) watch();
    else clearTimeout(watchdog); // the rest is the remote side's flush, however long the disk takes
  });
  source.on('error', (e: Error) => {
    readError = e;
    channel.close();
  });
  channel.on('data', () => undefined);
  // Writes after the remote side exited early (it reports why in its exit code) are dropped, not thrown.
  channel.on('error', () => undefined);
  channel.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const onAbort = () => {
    source.destroy();
    channel.close();
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  // The remote side sees its end of input only for a whole image: a source that ends short (a relay whose connection
  // dropped, a file cut while read) ends the channel instead, so that no partial disk passes for an image.
  let short: string | undefined;
  source.on('end', () => {
    if (sent === image.size) return void channel.end();
    short = sent < image.size ? `${image.label} ended after ${sent} of its ${image.size} bytes` : `${image.label} changed while it was read (${sent} bytes, not ${image.size})`;
    channel.close();
  });
  source.pipe(channel, { end: false });
  try {
    const code = await new Promise<number | null>((resolve) => {
      let status: number | null = null;
      channel.on('exit', (c: number | null) => (status = c));
      channel.on('close', () => resolve(status));
    });
    source.destroy();
    o.signal?.throwIfAborted();
    if (stalled) {
      throw new UserError(
        `Writing the image stalled: nothing went from ${image.label} to the rescue system for ${+(stallMs / 1000).toFixed(1)} s (${sent} of ${image.size} bytes sent); the image was not imported.`,
        { kind: 'retry' },
      );
    }
    if (readError) throw new UserError(`Cannot read ${image.label}: ${readError.message}.`);
    if (short) throw new UserError(`${short}; the image was not imported.`, { kind: 'retry' });
    const said = stderr.trim().split('\n').pop() ?? '';
    if (code === 0) return sent;
    if (code === NO_DISK) throw new UserError(`The rescue system has no disk at ${o.device}.`);
    if (code === NO_ZSTD) {
      throw new UserError('The rescue system has no zstd: decompress the image first (zstd -d nixos.img.zst -o nixos.img) and import nixos.img.');
    }
    if (code === null) throw new UserError('The connection to the rescue system dropped while the image was being written.', { kind: 'retry' });
    throw new UserError(`Writing the image on the rescue system failed (exit ${code})${said ? `: ${said}` : ''}.`, undefined, stderr.trim() || undefined);
  } finally {
    clearTimeout(watchdog);
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/** Single-quoted for a POSIX shell. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
