// Push a closure to an S3-compatible binary cache, uploading only what the bucket lacks.
//
// Four parts, each in its own file: what the bucket holds (pushLookup.ts), staging, where Nix compresses the missing
// paths into a local file:// cache (pushStage.ts), and the bucket side, where NARs go up as they appear and
// narinfos are committed in an order that keeps the bucket valid at every moment, including after a cancel or a
// crash (pushUpload.ts). This file runs them: the bucket and the closure at once, the lookups, then staging (Nix
// signs as it compresses), uploads and commits all overlapping.

import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../base/errors';
import { closureOf, type PathInfo } from './closure';
import { NIX_CACHE_INFO } from './narinfo';
import { limit } from './pool';
import { NarIndex, presentInBucket } from './pushLookup';
import { Backlog, EarlyStage, stage } from './pushStage';
import { NarinfoCommits, NarUploads } from './pushUpload';
import { abortError, type NixOptions } from './run';
import { Bucket, checkCacheSettings, type BucketOptions } from './s3';
import { checkSigningKeyFile } from './sign';
import { isStorePath } from './storePath';

export interface PushProgress {
  phase: 'preparing' | 'checking' | 'uploading' | 'done';
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
  /** Sign the narinfos of the paths the bucket lacks with cache.signingKeyFile, as Nix stages them (default true). */
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

/** One controller for the whole push: the caller's cancel and our own first failure both stop everything. */
interface Stop {
  signal: AbortSignal;
  /** Records the first error and stops the rest. */
  fail: (err: unknown) => void;
  firstError: () => unknown;
  dispose: () => void;
}

function stopper(outer: AbortSignal | undefined): Stop {
  const ctl = new AbortController();
  const onOuterAbort = () => ctl.abort();
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  setMaxListeners(256, ctl.signal); // every request in flight listens to it (lookups and uploads, 16 at a time each)
  let first: unknown;
  return {
    signal: ctl.signal,
    fail: (err) => {
      first ??= err;
      ctl.abort();
    },
    firstError: () => first,
    dispose: () => {
      outer?.removeEventListener('abort', onOuterAbort);
      ctl.abort();
    },
  };
}

/** Progress as a value the caller gets a copy of at every change. */
function progressReporter(onProgress: PushOptions['onProgress']) {
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
    onProgress?.({ ...progress });
  };
  return { progress, report };
}

type Reporter = ReturnType<typeof progressReporter>;

/** Refuses what cannot work before any traffic. */
function checkArguments(roots: readonly string[], opts: PushOptions, sign: boolean): void {
  for (const r of roots) if (!isStorePath(r)) throw new UserError(`"${r}" is not a Nix store path.`);
  if (roots.length === 0) throw new UserError('Nothing to push: no store path given.');
  checkCacheSettings(opts.cache);
  if (sign) checkSigningKeyFile(opts.cache.signingKeyFile);
  if (opts.signal?.aborted) throw abortError();
}

export async function push(roots: readonly string[], opts: PushOptions): Promise<PushResult> {
  const started = Date.now();
  const sign = opts.sign ?? true;
  checkArguments(roots, opts, sign);

  const stop = stopper(opts.signal);
  const { signal } = stop;
  const nix: NixOptions = { ...opts.nix, signal, onLog: opts.onLog };
  const { progress, report } = progressReporter(opts.onProgress);
  let bucket: Bucket | undefined;
  let staging: string | undefined;
  let early: EarlyStage | undefined;
  try {
    report();
    const prepared = await prepare(roots, opts, nix, stop, sign ? opts.cache.signingKeyFile : undefined, (e) => {
      early = e; // from here on this function's finally stops it and removes its folder, whatever happens
      staging = e.staging;
    });
    bucket = prepared.bucket;
    const { closure } = prepared;
    report({ phase: 'checking', pathsTotal: closure.length });
    const present = await alreadyPresent(prepared, opts, signal, { progress, report });
    const missing = closure.filter((i) => !present.has(i.path));
    report({ pathsMissing: missing.length, narBytesMissing: missing.reduce((n, i) => n + i.narSize, 0) });
    opts.onLog?.(`${closure.length} paths in the closure, ${present.size} already in the cache, ${missing.length} to upload.`);

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
    // nix-cache-info goes up while Nix compresses; only the first narinfo waits for it.
    const cacheInfo = prepared.cacheInfo !== undefined ? Promise.resolve() : putCacheInfo(bucket, signal, result, sent);
    cacheInfo.catch(stop.fail);
    if (missing.length > 0) {
      report({ phase: 'uploading' });
      staging ??= stagingFolder(opts);
      await uploadMissing({
        bucket,
        closure,
        missing,
        present,
        staging,
        opts,
        nix,
        signingKeyFile: sign ? opts.cache.signingKeyFile : undefined,
        stop,
        cacheInfo,
        newBucket: prepared.cacheInfo === undefined,
        early,
        reporter: { progress, report },
        sent,
        result,
      });
    }
    await cacheInfo;
    report({ phase: 'done' });
    result.seconds = (Date.now() - started) / 1000;
    return result;
  } catch (err) {
    if (opts.signal?.aborted) throw abortError();
    throw stop.firstError() ?? err;
  } finally {
    stop.dispose();
    bucket?.destroy();
    await early?.stop(); // Nix has exited before its folder goes
    if (staging) fs.rmSync(staging, { recursive: true, force: true });
  }
}

function stagingFolder(opts: PushOptions): string {
  return fs.mkdtempSync(path.join(opts.tmpDir ?? os.tmpdir(), 'thebacknd-push-'));
}

interface Prepared {
  bucket: Bucket;
  /** The bucket's nix-cache-info, undefined when it has none. */
  cacheInfo: string | undefined;
  closure: PathInfo[];
}

/**
 * The bucket side (loading the SDK, reading nix-cache-info) and the local side (the closure) at once. Only the
 * paths the bucket lacks are signed, later, by Nix as it stages them: a warm push runs one Nix command. For a bucket
 * without nix-cache-info, Nix starts on the whole closure at once (see EarlyStage), handed to `onEarly`.
 */
async function prepare(
  roots: readonly string[],
  opts: PushOptions,
  nix: NixOptions,
  stop: Stop,
  signingKeyFile: string | undefined,
  onEarly: (early: EarlyStage) => void,
): Promise<Prepared> {
  let opened: Bucket | undefined;
  const remote = (async () => {
    const bucket = (opened = await Bucket.open(opts));
    // A GET first: unlike HEAD, its error body says *why* (wrong key, wrong secret, no bucket).
    const info = await bucket.getText('nix-cache-info', stop.signal);
    if (info !== undefined && !/^StoreDir: \/nix\/store\s*$/m.test(info)) {
      throw new UserError(`Bucket "${opts.cache.bucket}" holds a Nix cache for another store directory (nix-cache-info: ${info.trim().split('\n')[0]}).`);
    }
    // No nix-cache-info, so no narinfo (a push writes it first): every path is missing, and Nix need not wait for
    // the closure query to start compressing them.
    if (info === undefined && !stop.signal.aborted) onEarly(new EarlyStage(stagingFolder(opts), roots, nix, { compression: opts.compression, signingKeyFile }));
    return { bucket, info };
  })();
  remote.catch(stop.fail);
  const [r, l] = await Promise.allSettled([remote, closureOf(roots, nix)]);
  if (r.status === 'rejected' || l.status === 'rejected') {
    opened?.destroy();
    throw r.status === 'rejected' ? r.reason : (l as PromiseRejectedResult).reason;
  }
  return { bucket: r.value.bucket, cacheInfo: r.value.info, closure: l.value };
}

/** The closure paths the bucket holds. A bucket without nix-cache-info holds no narinfo (a push writes it before any). */
async function alreadyPresent(p: Prepared, opts: PushOptions, signal: AbortSignal, { progress, report }: Reporter): Promise<Set<string>> {
  if (p.cacheInfo === undefined) {
    report({ pathsChecked: p.closure.length });
    return new Set();
  }
  return presentInBucket(p.bucket, p.closure, opts, signal, (n) => report({ pathsChecked: progress.pathsChecked + n }));
}

async function putCacheInfo(b: Bucket, signal: AbortSignal, result: PushResult, sent: (n: number) => void): Promise<void> {
  await b.put('nix-cache-info', NIX_CACHE_INFO, 'text/x-nix-cache-info', signal);
  result.cacheInfoUploaded = true;
  sent(NIX_CACHE_INFO.length);
}

interface UploadContext {
  bucket: Bucket;
  closure: PathInfo[];
  missing: PathInfo[];
  present: Set<string>;
  staging: string;
  opts: PushOptions;
  nix: NixOptions;
  /** Nix signs each narinfo it stages with this key (the local store is left as it is). */
  signingKeyFile: string | undefined;
  stop: Stop;
  /** nix-cache-info is in the bucket. */
  cacheInfo: Promise<void>;
  /** The bucket had no nix-cache-info at the start (see NarIndex). */
  newBucket: boolean;
  early: EarlyStage | undefined;
  reporter: Reporter;
  sent: (bytes: number) => void;
  result: PushResult;
}

/** Stage (Nix compresses), upload NARs (as they appear) and commit narinfos (in order), all at once. */
async function uploadMissing(c: UploadContext): Promise<void> {
  const { bucket, opts, stop, result } = c;
  const { signal } = stop;
  const { progress, report } = c.reporter;
  const nars = new NarUploads(
    bucket,
    new NarIndex(bucket, c.missing.length, opts, signal, c.newBucket),
    opts,
    { sent: c.sent, stored: (reused) => (reused ? result.reusedNars++ : result.uploadedNars++) },
    signal,
  );
  const narinfoPuts = limit(16);
  const commits = new NarinfoCommits(
    c.missing.map((m) => m.path),
    (key, text) => narinfoPuts(() => bucket.put(key, text, 'text/x-nix-narinfo', signal)),
    c.cacheInfo,
    signal,
    (_path, bytes) => {
      c.sent(bytes);
      result.uploadedPaths++;
      report({ pathsUploaded: progress.pathsUploaded + 1 });
    },
  );
  const backlog = new Backlog();
  const tasks: Promise<void>[] = [];
  try {
    await stage({
      staging: c.staging,
      closure: c.closure,
      missing: c.missing,
      present: c.present,
      nix: c.nix,
      signal,
      batchSize: opts.batchSize,
      compression: opts.compression,
      signingKeyFile: c.signingKeyFile,
      early: c.early,
      backlog,
      fail: stop.fail,
      onStaged: (info, nar, text, file) => {
        report({ pathsCompressed: progress.pathsCompressed + 1, bytesToUpload: progress.bytesToUpload + (nar.fileSize ?? 0) });
        const uploaded = nars.upload(nar, file);
        void uploaded.then(
          () => backlog.release(),
          () => backlog.release(),
        );
        const t = commits.commit(info, text, uploaded);
        t.catch(stop.fail);
        tasks.push(t);
      },
    });
  } catch (err) {
    stop.fail(err);
  }
  commits.abandonRest(stop.firstError() ?? abortError());
  await Promise.allSettled(tasks);
  if (stop.firstError() !== undefined) throw stop.firstError();
  if (signal.aborted) throw abortError();
}
