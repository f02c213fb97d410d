// Push a closure to an S3-compatible binary cache, uploading only what the bucket lacks.
//
// Nix 2.8 cannot write s3:// stores, so Nix compresses the missing paths into a local file:// staging cache
// (`nix copy --no-recursive`, only those paths; placeholder narinfos stand for the references the bucket already
// has) and this module uploads the result as it appears. Ordering is what keeps the bucket valid at every moment,
// including after a cancel or a crash: a path's NAR is uploaded before its narinfo, and a narinfo only after the
// narinfos of its references. A later push finds NARs whose narinfo never made it and does not upload them again.

import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../base/errors';
import { closureOf, type PathInfo } from './closure';
import { NIX_CACHE_INFO, parseNarInfo, placeholderNarInfo, type NarInfo } from './narinfo';
import { mapLimit, limit } from './pool';
import { abortError, runNix, type NixOptions } from './run';
import { Bucket, checkCacheSettings, type BucketOptions } from './s3';
import { checkSigningKeyFile, signPaths } from './sign';
import { hashPart, isStorePath } from './storePath';

export interface PushProgress {
  phase: 'preparing' | 'signing' | 'checking' | 'uploading' | 'done';
  /** Paths in the closure. */
  pathsTotal: number;
  /** Closure paths whose narinfo was looked up so far. */
  pathsChecked: number;
  /** Paths the bucket lacks (known once checking ends). */
  pathsMissing: number;
  /** Missing paths Nix has compressed so far. */
  pathsCompressed: number;
  /** Missing paths now complete in the bucket (NAR and narinfo). */
  pathsUploaded: number;
  /** Bytes sent so far (NARs, narinfos, nix-cache-info). */
  bytesUploaded: number;
  /** Compressed bytes of the NARs produced so far, whether sent or found already in the bucket. */
  bytesToUpload: number;
  /** Uncompressed size of the missing paths, known once checking ends. */
  narBytesMissing: number;
}

export interface PushOptions extends BucketOptions {
  /** How nix runs (environment, binary); its log goes to onLog. */
  nix?: Omit<NixOptions, 'signal' | 'onLog' | 'cwd'>;
  signal?: AbortSignal;
  onProgress?: (p: Readonly<PushProgress>) => void;
  onLog?: (line: string) => void;
  /** Sign the paths the bucket lacks with cache.signingKeyFile before uploading them (default true). */
  sign?: boolean;
  /** narinfo lookups in flight (default 16). */
  checkConcurrency?: number;
  /** Closures of at least this many paths are looked up through the bucket's listing (default 128). */
  listThreshold?: number;
  /** Keys per listing page (default 1,000, S3's maximum). */
  listPageSize?: number;
  /** File uploads in flight (default 4). */
  uploadConcurrency?: number;
  /** Uploads of NARs under 256 KiB in flight (default 16, or uploadConcurrency when only that is set). */
  smallUploadConcurrency?: number;
  /** NARs at least this large use multipart upload (default 32 MiB). */
  multipartThreshold?: number;
  /** Multipart part size (default 8 MiB, S3's minimum is 5 MiB). */
  partSize?: number;
  /** Paths per `nix copy` run (default 100). */
  batchSize?: number;
  compression?: 'zstd' | 'xz';
  /** Where the staging cache is created (default the OS temp folder). */
  tmpDir?: string;
}

export interface PushResult {
  closure: number;
  alreadyPresent: number;
  /** Paths whose narinfo this push wrote. */
  uploadedPaths: number;
  /** NARs uploaded by this push. */
  uploadedNars: number;
  /** NARs found already in the bucket (left by an interrupted push) and not sent again. */
  reusedNars: number;
  uploadedBytes: number;
  cacheInfoUploaded: boolean;
  seconds: number;
}

const MiB = 1024 * 1024;
/** NARs below this go up many at a time (their cost is round trips, not bytes). */
const SMALL_NAR = 256 * 1024;

export async function push(roots: readonly string[], opts: PushOptions): Promise<PushResult> {
  const started = Date.now();
  for (const r of roots) if (!isStorePath(r)) throw new UserError(`"${r}" is not a Nix store path.`);
  if (roots.length === 0) throw new UserError('Nothing to push: no store path given.');
  checkCacheSettings(opts.cache);
  const sign = opts.sign ?? true;
  if (sign) checkSigningKeyFile(opts.cache.signingKeyFile);

  // One controller for the whole push: the caller's cancel and our own first failure both stop everything.
  const ctl = new AbortController();
  const onOuterAbort = () => ctl.abort();
  if (opts.signal?.aborted) throw abortError();
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const signal = ctl.signal;
  setMaxListeners(256, signal); // every request in flight listens to it (lookups and uploads, 16 at a time each)
  const nix: NixOptions = { ...opts.nix, signal, onLog: opts.onLog };
  const log = (line: string) => opts.onLog?.(line);

  const progress: PushProgress = {
    phase: 'preparing',
    pathsTotal: 0,
    pathsChecked: 0,
    pathsMissing: 0,
    pathsCompressed: 0,
    pathsUploaded: 0,
    bytesUploaded: 0,
    bytesToUpload: 0,
    narBytesMissing: 0,
  };
  const report = (patch: Partial<PushProgress> = {}) => {
    Object.assign(progress, patch);
    opts.onProgress?.({ ...progress });
  };

  let bucket: Bucket | undefined;
  let staging: string | undefined;
  try {
    report();
    // The bucket side (loading the SDK, a first request) and the local side (the closure) overlap.
    const remote = (async () => {
      bucket = await Bucket.open(opts);
      // A GET first: unlike HEAD, its error body says *why* (wrong key, wrong secret, no bucket).
      const info = await bucket.getText('nix-cache-info', signal);
      if (info !== undefined && !/^StoreDir: \/nix\/store\s*$/m.test(info)) {
        throw new UserError(`Bucket "${opts.cache.bucket}" holds a Nix cache for another store directory (nix-cache-info: ${info.trim().split('\n')[0]}).`);
      }
      return { bucket, info };
    })();
    // Only the paths the bucket lacks are signed (below): a warm push runs one Nix command, not two.
    const local = closureOf(roots, nix);
    remote.catch(() => ctl.abort());
    const [r, l] = await Promise.allSettled([remote, local]);
    if (r.status === 'rejected') throw r.reason;
    if (l.status === 'rejected') throw l.reason;
    const cacheInfo = r.value.info;
    const closure = l.value;
    report({ phase: 'checking', pathsTotal: closure.length });

    const b = r.value.bucket;
    const present = await presentInBucket(b, closure, opts, signal, (n) => report({ pathsChecked: progress.pathsChecked + n }));
    const missing = closure.filter((i) => !present.has(i.path));
    report({ pathsMissing: missing.length, narBytesMissing: missing.reduce((n, i) => n + i.narSize, 0) });
    log(`${closure.length} paths in the closure, ${present.size} already in the cache, ${missing.length} to upload.`);

    const result: PushResult = {
      closure: closure.length,
      alreadyPresent: present.size,
      uploadedPaths: 0,
      uploadedNars: 0,
      reusedNars: 0,
      uploadedBytes: 0,
      cacheInfoUploaded: false,
      seconds: 0,
    };
    const sent = (n: number) => {
      result.uploadedBytes += n;
      report({ bytesUploaded: progress.bytesUploaded + n });
    };

    if (cacheInfo === undefined) {
      await b.put('nix-cache-info', NIX_CACHE_INFO, 'text/x-nix-cache-info', signal);
      result.cacheInfoUploaded = true;
      sent(NIX_CACHE_INFO.length);
    }
    if (missing.length > 0 && sign) {
      report({ phase: 'signing' });
      await signPaths(missing.map((m) => m.path), opts.cache.signingKeyFile, nix);
    }
    if (missing.length > 0) {
      report({ phase: 'uploading' });
      staging = fs.mkdtempSync(path.join(opts.tmpDir ?? os.tmpdir(), 'thebacknd-push-'));
      await uploadMissing({ bucket: b, closure, missing, present, staging, opts, nix, signal, ctl, progress, report, sent, result });
    }
    report({ phase: 'done' });
    result.seconds = (Date.now() - started) / 1000;
    return result;
  } catch (err) {
    if (opts.signal?.aborted) throw abortError();
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
    ctl.abort();
    bucket?.destroy();
    if (staging) fs.rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Which closure paths the bucket already holds (their narinfo exists: the push writes it last, so the path is
 * complete). A small closure asks for each narinfo (16 at a time); a large one reads the bucket's listing, one
 * page of 1,000 keys per request, which beats one request per path when the closure is large and the bucket not
 * much larger. The listing is bounded: after `maxPages`, the paths beyond the last key listed are asked for one by
 * one. Paths are ordered by hash in both, so everything up to the last listed key is known exactly.
 */
export async function presentInBucket(
  b: Bucket,
  closure: readonly PathInfo[],
  opts: Pick<PushOptions, 'listThreshold' | 'checkConcurrency' | 'listPageSize'>,
  outer: AbortSignal,
  checked: (n: number) => void = () => undefined,
): Promise<Set<string>> {
  const ctl = new AbortController(); // the first failed lookup stops the others
  const signal = AbortSignal.any([outer, ctl.signal]);
  setMaxListeners(256, signal);
  const present = new Set<string>();
  const narinfo = (p: string) => `${hashPart(p)}.narinfo`;
  let unknown: readonly PathInfo[] = closure;
  const threshold = opts.listThreshold ?? 128;
  if (closure.length >= threshold) {
    // A page costs about one wave of parallel lookups: list while that stays cheaper than looking up the rest.
    const maxPages = Math.max(1, Math.ceil(closure.length / (opts.checkConcurrency ?? 16) / 2));
    const wanted = new Map(closure.map((i) => [narinfo(i.path), i.path]));
    let marker: string | undefined;
    let pages = 0;
    let last = '';
    do {
      const page = await b.listPage('', marker, signal, opts.listPageSize ?? 1000);
      pages++;
      for (const k of page.keys) {
        const p = wanted.get(k);
        if (p) present.add(p);
      }
      marker = page.next;
      last = marker ?? '\uffff';
    } while (marker && pages < maxPages);
    unknown = closure.filter((i) => narinfo(i.path) > last);
    checked(closure.length - unknown.length);
  }
  let checkError: unknown;
  await mapLimit(unknown, opts.checkConcurrency ?? 16, async (info) => {
    if (signal.aborted) throw abortError();
    try {
      if ((await b.head(narinfo(info.path), signal)) !== undefined) present.add(info.path);
    } catch (err) {
      checkError ??= err;
      ctl.abort();
      throw err;
    }
    checked(1);
  }).catch((err: unknown) => {
    throw checkError ?? err;
  });
  return present;
}

interface UploadState {
  bucket: Bucket;
  closure: PathInfo[];
  missing: PathInfo[];
  present: Set<string>;
  staging: string;
  opts: PushOptions;
  nix: NixOptions;
  signal: AbortSignal;
  ctl: AbortController;
  progress: PushProgress;
  report: (patch?: Partial<PushProgress>) => void;
  sent: (bytes: number) => void;
  result: PushResult;
}

async function uploadMissing(s: UploadState): Promise<void> {
  const { bucket, missing, staging, opts, signal } = s;
  const missingByHash = new Map(s.missing.map((i) => [hashPart(i.path), i]));
  const byPath = new Map(s.closure.map((i) => [i.path, i]));

  // The staging cache "has" every reference the bucket already holds, so Nix compresses only the missing paths.
  fs.writeFileSync(path.join(staging, 'nix-cache-info'), 'StoreDir: /nix/store\n');
  const stubs = new Set<string>();
  for (const m of missing) {
    for (const r of m.references) {
      const info = byPath.get(r);
      if (info && s.present.has(r) && !stubs.has(r)) {
        stubs.add(r);
        fs.writeFileSync(path.join(staging, `${hashPart(r)}.narinfo`), placeholderNarInfo(info));
      }
    }
  }

  // Large NARs are bandwidth-bound (a few at a time), small ones latency-bound (many at a time).
  const uploads = limit(opts.uploadConcurrency ?? 4);
  const smallUploads = limit(opts.smallUploadConcurrency ?? (opts.uploadConcurrency === undefined ? 16 : opts.uploadConcurrency));
  const narinfoPuts = limit(16);
  const narUploads = new Map<string, Promise<void>>();
  const committed = new Map<string, Deferred>();
  for (const m of missing) committed.set(m.path, deferred());
  const tasks: Promise<void>[] = [];
  let firstError: unknown;
  const fail = (err: unknown) => {
    if (firstError === undefined) firstError = err;
    s.ctl.abort();
  };

  const uploadNar = (nar: NarInfo): Promise<void> => {
    let p = narUploads.get(nar.url);
    if (!p) {
      const small = (nar.fileSize ?? Infinity) < SMALL_NAR;
      p = (small ? smallUploads : uploads)(async () => {
        if (signal.aborted) throw abortError();
        const file = path.join(staging, nar.url);
        const size = (await fs.promises.stat(file)).size;
        // A NAR left by an interrupted push is not sent again.
        const existing = await bucket.head(nar.url, signal);
        if (existing === size) {
          s.result.reusedNars++;
        } else {
          let last = 0;
          await bucket.putFile(nar.url, file, 'application/x-nix-nar', {
            signal,
            multipartThreshold: opts.multipartThreshold ?? 32 * MiB,
            partSize: opts.partSize ?? 8 * MiB,
            partConcurrency: 4,
            onBytes: (n) => {
              s.sent(n - last);
              last = n;
            },
          });
          s.result.uploadedNars++;
        }
        await fs.promises.rm(file, { force: true });
      });
      narUploads.set(nar.url, p);
    }
    return p;
  };

  const handle = async (info: PathInfo, narinfoFile: string) => {
    const text = await fs.promises.readFile(narinfoFile, 'utf8');
    const nar = parseNarInfo(text);
    if (!nar || nar.storePath !== info.path || nar.url.includes('..') || !nar.url.startsWith('nar/')) {
      throw new UserError(`Nix wrote an unexpected narinfo for ${info.path}.`, undefined, text.slice(0, 1000));
    }
    s.report({ pathsCompressed: s.progress.pathsCompressed + 1, bytesToUpload: s.progress.bytesToUpload + (nar.fileSize ?? 0) });
    try {
      await uploadNar(nar);
    } finally {
      staged--;
      drained.wake();
    }
    // The narinfo goes last, and only once its references are complete in the bucket.
    const deps = info.references.filter((r) => r !== info.path && committed.has(r)).map((r) => committed.get(r)!.promise);
    await Promise.all(deps);
    if (signal.aborted) throw abortError();
    await narinfoPuts(() => bucket.put(`${hashPart(info.path)}.narinfo`, text, 'text/x-nix-narinfo', signal));
    s.sent(Buffer.byteLength(text));
    s.result.uploadedPaths++;
    s.report({ pathsUploaded: s.progress.pathsUploaded + 1 });
    committed.get(info.path)!.resolve();
  };

  // Upload whatever narinfos Nix has finished (it writes each one atomically, after its NAR).
  const seen = new Set<string>();
  let inFlight = 0;
  /** NARs in the staging folder not uploaded yet: what the backpressure bounds (narinfos waiting hold no disk). */
  let staged = 0;
  const drained = new Wakeup();
  const scan = async () => {
    const names = await fs.promises.readdir(staging);
    for (const n of names) {
      if (!n.endsWith('.narinfo')) continue;
      const hash = n.slice(0, -'.narinfo'.length);
      const info = missingByHash.get(hash);
      if (!info || seen.has(hash)) continue;
      seen.add(hash);
      inFlight++;
      staged++;
      const t = handle(info, path.join(staging, n));
      t.catch((err) => {
        committed.get(info.path)?.reject(err);
        fail(err);
      }).finally(() => {
        inFlight--;
        drained.wake();
      });
      tasks.push(t);
    }
  };

  const url = `file://${staging}?compression=${opts.compression ?? 'zstd'}`;
  // Largest first: the longest uploads start early and the small ones fill in around them. Only narinfos wait for
  // their references (handle() above); Nix itself still needs a path's references in the staging cache before
  // the path, so the order is topological, choosing the largest path whose references are already placed.
  const bySize = largestFirst(missing);
  const batchSize = Math.max(1, opts.batchSize ?? 100);
  // Nix renames each narinfo into place: a directory event wakes the scanner at once, the timer is a fallback.
  const ticker = new Wakeup();
  const watcher = fs.watch(staging, () => ticker.wake());
  watcher.on('error', () => undefined);
  let copying = true;
  const poller = (async () => {
    while (copying && !signal.aborted) {
      await scan().catch(fail);
      await ticker.wait(500);
    }
  })();
  try {
    for (let i = 0; i < missing.length && !signal.aborted; i += batchSize) {
      // Backpressure: the staging folder holds about one batch of compressed NARs waiting for upload, not the closure.
      while (staged > batchSize && !signal.aborted) await drained.wait(1000);
      const batch = bySize.slice(i, i + batchSize).map((m) => m.path);
      await runNix(['copy', '--no-recursive', '--to', url, ...batch], s.nix, 'Compressing paths for the cache');
    }
  } catch (err) {
    fail(err);
  } finally {
    copying = false;
    ticker.wake();
    await poller;
    watcher.close();
  }
  if (!signal.aborted) await scan().catch(fail);
  for (const [p, d] of committed) if (!seen.has(hashPart(p)) && firstError === undefined && !signal.aborted) {
    d.reject(new Error('not produced'));
    fail(new UserError(`Nix did not produce ${p} in the staging cache.`));
  }
  await Promise.allSettled(tasks);
  for (const d of committed.values()) d.promise.catch(() => undefined);
  if (firstError !== undefined) throw firstError;
  if (signal.aborted) throw abortError();
}

/** A topological order (references first) that, among the paths ready at each step, takes the largest NAR. */
export function largestFirst(paths: readonly PathInfo[]): PathInfo[] {
  const byPath = new Map(paths.map((p) => [p.path, p]));
  const waiting = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const p of paths) {
    const refs = p.references.filter((r) => r !== p.path && byPath.has(r));
    waiting.set(p.path, refs.length);
    for (const r of refs) dependents.set(r, [...(dependents.get(r) ?? []), p.path]);
  }
  const ready = paths.filter((p) => waiting.get(p.path) === 0);
  const out: PathInfo[] = [];
  while (ready.length) {
    // Closures are hundreds to a few thousand paths: a linear pick of the largest is fast enough.
    let best = 0;
    for (let i = 1; i < ready.length; i++) if (ready[i]!.narSize > ready[best]!.narSize) best = i;
    const [next] = ready.splice(best, 1);
    out.push(next!);
    for (const d of dependents.get(next!.path) ?? []) {
      const n = waiting.get(d)! - 1;
      waiting.set(d, n);
      if (n === 0) ready.push(byPath.get(d)!);
    }
  }
  if (out.length !== paths.length) throw new UserError('The closure has a reference cycle between store paths; Nix cannot have produced it.');
  return out;
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** A wait that ends after `ms` or at the next wake(), whichever comes first; a wake with no waiter is kept. */
class Wakeup {
  private pending = false;
  private resolve: (() => void) | undefined;
  wake(): void {
    if (this.resolve) this.resolve();
    else this.pending = true;
  }
  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((r) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.resolve = undefined;
        r();
      }
      this.resolve = done;
    });
  }
}
