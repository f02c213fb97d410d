// The bucket side of a push: NARs go up as soon as Nix has staged them, in any order and many at a time; narinfos
// are committed in the order that keeps the bucket valid at every moment, including after a cancel or a crash:
// a path's narinfo only after its NAR, after the narinfos of its references, and after nix-cache-info.

import fs from 'node:fs';
import type { NarInfo } from './narinfo';
import { limit } from './pool';
import type { PathInfo } from './closure';
import type { NarIndex } from './pushLookup';
import { abortError } from './run';
import type { Bucket } from './s3';
import { hashPart } from './storePath';

const MiB = 1024 * 1024;
/** NARs below this go up many at a time (their cost is round trips, not bytes). */
export const SMALL_NAR = 256 * 1024;

export interface NarUploadOptions {
  /** Uploads of NARs of SMALL_NAR or more in flight (default 4). */
  uploadConcurrency?: number;
  /** Uploads of smaller NARs in flight (default 16, or uploadConcurrency when only that is set). */
  smallUploadConcurrency?: number;
  /** NARs at least this large use multipart upload (default 32 MiB). */
  multipartThreshold?: number;
  /** Multipart part size (default 8 MiB). */
  partSize?: number;
}

export interface NarUploadEvents {
  /** Bytes sent since the last call. */
  sent: (bytes: number) => void;
  /** One NAR is in the bucket: sent now, or `reused` from an interrupted push. */
  stored: (reused: boolean) => void;
}

/**
 * Sends staged NARs, each once however many paths name it. Large NARs are bandwidth-bound (a few at a time), small
 * ones latency-bound (many at a time). A NAR already in the bucket with the same size (its key is its hash) is
 * not sent again. The staged file is removed once the NAR is in the bucket.
 */
export class NarUploads {
  private readonly started = new Map<string, Promise<void>>();
  private readonly large;
  private readonly small;

  constructor(
    private readonly bucket: Bucket,
    private readonly index: NarIndex,
    private readonly opts: NarUploadOptions,
    private readonly on: NarUploadEvents,
    private readonly signal: AbortSignal,
  ) {
    this.large = limit(opts.uploadConcurrency ?? 4);
    this.small = limit(opts.smallUploadConcurrency ?? opts.uploadConcurrency ?? 16);
  }

  /** The NAR `nar` names, read from `file`; resolves once it is in the bucket. */
  upload(nar: NarInfo, file: string): Promise<void> {
    let p = this.started.get(nar.url);
    if (!p) {
      const lane = (nar.fileSize ?? Infinity) < SMALL_NAR ? this.small : this.large;
      p = lane(() => this.send(nar.url, file, nar.fileSha256));
      this.started.set(nar.url, p);
    }
    return p;
  }

  private async send(key: string, file: string, sha256: string | undefined): Promise<void> {
    if (this.signal.aborted) throw abortError();
    const [size, existing] = await Promise.all([fs.promises.stat(file).then((s) => s.size), this.index.sizeOf(key)]);
    if (existing === size) {
      this.on.stored(true);
    } else {
      let last = 0;
      await this.bucket.putFile(key, file, 'application/x-nix-nar', {
        signal: this.signal,
        multipartThreshold: this.opts.multipartThreshold ?? 32 * MiB,
        partSize: this.opts.partSize ?? 8 * MiB,
        partConcurrency: 4,
        sha256,
        onBytes: (n) => {
          this.on.sent(n - last);
          last = n;
        },
      });
      this.on.stored(false);
    }
    await fs.promises.rm(file, { force: true });
  }
}

/**
 * Writes narinfos in an order that keeps the bucket valid: each waits for its own NAR, for `before`
 * (nix-cache-info), and for the narinfos of those of its references that this push writes too. A path whose
 * commit fails or never starts makes every path that refers to it fail too, so nothing waits forever.
 */
export class NarinfoCommits {
  private readonly done = new Map<string, Deferred>();

  constructor(
    paths: readonly string[],
    private readonly put: (key: string, text: string) => Promise<void>,
    private readonly before: Promise<unknown>,
    private readonly signal: AbortSignal,
    private readonly committed: (path: string, bytes: number) => void,
  ) {
    for (const p of paths) this.done.set(p, deferred());
  }

  /** Commits `info`'s narinfo `text` once `nar` (its NAR's upload) and the rules above allow. */
  async commit(info: PathInfo, text: string, nar: Promise<void>): Promise<void> {
    const own = this.done.get(info.path);
    if (!own || own.started) throw new Error(`${info.path} is not a path this push commits, or is committed twice`);
    own.started = true;
    try {
      await nar;
      await Promise.all(info.references.filter((r) => r !== info.path && this.done.has(r)).map((r) => this.done.get(r)!.promise));
      await this.before;
      if (this.signal.aborted) throw abortError();
      await this.put(`${hashPart(info.path)}.narinfo`, text);
      this.committed(info.path, Buffer.byteLength(text));
      own.resolve();
    } catch (err) {
      own.reject(err);
      throw err;
    }
  }

  /** The paths whose commit never started will not be committed: their dependents stop waiting. */
  abandonRest(reason: unknown): void {
    for (const d of this.done.values()) if (!d.started) d.reject(reason);
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  started: boolean;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // a dependent may never ask
  return { promise, resolve, reject, started: false };
}
