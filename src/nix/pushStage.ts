// The staging side of a push: Nix 2.8 cannot write s3:// stores, so Nix compresses the missing paths into a local
// file:// cache (`nix copy --no-recursive`, only those paths), and each narinfo it finishes is handed on as soon as
// it appears, while Nix goes on with the next paths. Nix writes a NAR before its narinfo and renames the narinfo
// into place, so a narinfo that is visible names a complete NAR.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../base/errors';
import type { PathInfo } from './closure';
import { parseNarInfo, placeholderNarInfo, type NarInfo } from './narinfo';
import { abortError, runNix, type NixOptions } from './run';
import { hashPart } from './storePath';

export interface StageOptions {
  /** An empty folder that becomes the staging cache. */
  staging: string;
  closure: readonly PathInfo[];
  /** The paths to compress. */
  missing: readonly PathInfo[];
  /** Closure paths the bucket already holds (the staging cache gets a placeholder for those referenced). */
  present: ReadonlySet<string>;
  nix: NixOptions;
  signal: AbortSignal;
  /** Paths per `nix copy` run (default 100); also about how many compressed NARs wait on disk for upload. */
  batchSize?: number;
  compression?: 'zstd' | 'xz';
  /**
   * Nix signs each narinfo it writes with this secret key file (the store URL's `secret-key`), so signing costs
   * no separate `nix store sign` run before the first upload, and the local store is left as it is.
   */
  signingKeyFile?: string;
  /** NARs staged and not uploaded yet: the next batch starts only when this is back to a batch or less. */
  backlog: Backlog;
  /** Called once per missing path, as soon as its narinfo is complete in the staging cache. */
  onStaged: (info: PathInfo, nar: NarInfo, text: string, file: string) => void;
  /** Called at the first error seen while Nix still runs (the caller aborts the signal to stop it). */
  fail: (err: unknown) => void;
  /** A run of Nix over the whole closure, started before the closure was known (see EarlyStage). */
  early?: EarlyStage;
}

interface StagingUrlOptions {
  compression?: 'zstd' | 'xz';
  signingKeyFile?: string;
}

function stagingUrl(staging: string, o: StagingUrlOptions): string {
  return `file://${staging}?compression=${o.compression ?? 'zstd'}${o.signingKeyFile ? `&secret-key=${encodeURIComponent(o.signingKeyFile)}` : ''}`;
}

/**
 * For a bucket without nix-cache-info, which holds no narinfo, every path of the closure is missing: Nix can start
 * compressing the whole closure (`nix copy` of the roots) while the closure is still being queried, instead of
 * after. stage() then keeps it when the closure is one batch, or stops it and goes on in batches.
 */
export class EarlyStage {
  private readonly ctl = new AbortController();
  /** Settles when Nix has exited; rejects if it failed or was stopped (stop() waits for it and ignores that). */
  readonly done: Promise<void>;

  constructor(
    readonly staging: string,
    roots: readonly string[],
    nix: NixOptions,
    o: StagingUrlOptions,
  ) {
    const signal = nix.signal ? AbortSignal.any([nix.signal, this.ctl.signal]) : this.ctl.signal;
    try {
      writeStagingInfo(staging);
      this.done = runNix(['copy', '--to', stagingUrl(staging, o), ...roots], { ...nix, signal }, 'Compressing paths for the cache').then(() => undefined);
    } catch (err) {
      fs.rmSync(staging, { recursive: true, force: true }); // e.g. no nix: nothing started, nothing left behind
      throw err;
    }
    this.done.catch(() => undefined); // read by stage() or dropped by stop(); never an unhandled rejection
  }

  /** Stops Nix and resolves once it has exited; what it staged so far stays in the staging folder. */
  async stop(): Promise<void> {
    this.ctl.abort();
    await this.done.catch(() => undefined);
  }
}

/** The staging folder's nix-cache-info: what makes it a `file://` cache for Nix. */
function writeStagingInfo(staging: string): void {
  fs.writeFileSync(path.join(staging, 'nix-cache-info'), 'StoreDir: /nix/store\n');
}

/**
 * The staging cache "has" every reference the bucket already holds (a placeholder narInfo), so Nix compresses only
 * the missing paths.
 */
export function writeStagingCache(staging: string, closure: readonly PathInfo[], missing: readonly PathInfo[], present: ReadonlySet<string>): void {
  writeStagingInfo(staging);
  const byPath = new Map(closure.map((i) => [i.path, i]));
  const stubs = new Set<string>();
  for (const m of missing) {
    for (const r of m.references) {
      const info = byPath.get(r);
      if (info && present.has(r) && !stubs.has(r)) {
        stubs.add(r);
        fs.writeFileSync(path.join(staging, `${hashPart(r)}.narinfo`), placeholderNarInfo(info));
      }
    }
  }
}

/** Compresses the missing paths, largest first, calling onStaged for each; rejects if Nix failed or skipped one. */
export async function stage(o: StageOptions): Promise<void> {
  const { staging, signal, early } = o;
  // An early run wrote nix-cache-info already, and Nix may be reading it: it is not written again under it.
  if (!early) writeStagingCache(staging, o.closure, o.missing, o.present);
  const watch = new StagingWatch(o);
  const url = stagingUrl(staging, o);
  const batchSize = Math.max(1, o.batchSize ?? 100);
  try {
    if (early) {
      // One batch or less: the early run is that batch. More: it would stage the whole closure whatever the uploads'
      // pace, so it stops here and the rest goes in batches with backpressure. What it staged is taken (a last look
      // at the folder: its events may still be on their way) and not compressed again.
      if (o.missing.length <= batchSize) await early.done;
      else await early.stop();
      watch.scan();
    }
    // Largest first: the longest uploads start early and the small ones fill in around them. Only narinfos wait for
    // their references (see pushUpload.ts); Nix itself still needs a path's references in the staging cache before
    // the path, so the order is topological, choosing the largest path whose references are already placed. It
    // decides which paths go in which batch; within one run, Nix 2.8 copies in its own dependency order.
    const order = largestFirst(o.missing.filter((m) => !watch.has(m.path))).map((m) => m.path);
    for (let i = 0; i < order.length && !signal.aborted; i += batchSize) {
      // Backpressure: the staging folder holds about one batch of compressed NARs waiting for upload, not the closure.
      await o.backlog.atMost(batchSize, signal);
      await runNix(['copy', '--no-recursive', '--to', url, ...order.slice(i, i + batchSize)], o.nix, 'Compressing paths for the cache');
    }
  } finally {
    watch.stop();
  }
  if (signal.aborted) throw abortError();
  await watch.finish();
}

/**
 * Hands on each narinfo of a missing path once. A directory event names the file that Nix renamed into place, so
 * most narinfos are read without listing the folder; a listing every half second (and a last one at the end) is
 * the fallback for events the platform dropped or reported without a name.
 */
class StagingWatch {
  private readonly byHash: Map<string, PathInfo>;
  private readonly seen = new Set<string>();
  private readonly reading = new Set<Promise<void>>();
  private readonly watcher: fs.FSWatcher;
  private readonly timer: NodeJS.Timeout;
  private error: unknown;

  constructor(private readonly o: StageOptions) {
    this.byHash = new Map(o.missing.map((i) => [hashPart(i.path), i]));
    this.watcher = fs.watch(o.staging, (_event, name) => {
      if (name) this.take(String(name));
    });
    this.watcher.on('error', () => undefined);
    this.timer = setInterval(() => this.scan(), 500);
    this.scan(); // narinfos an early run staged before this watch began
  }

  /** Whether the narinfo of `storePath` was seen in the staging folder. */
  has(storePath: string): boolean {
    return this.seen.has(hashPart(storePath));
  }

  stop(): void {
    clearInterval(this.timer);
    this.watcher.close();
  }

  /** After Nix ended: the last narinfos, read; every missing path staged, or a clear error. */
  async finish(): Promise<void> {
    this.scan();
    while (this.reading.size) await Promise.allSettled([...this.reading]);
    if (this.error !== undefined) throw this.error;
    if (this.o.signal.aborted) throw abortError();
    const lost = this.o.missing.find((m) => !this.seen.has(hashPart(m.path)));
    if (lost) throw new UserError(`Nix did not produce ${lost.path} in the staging cache.`);
  }

  scan(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.o.staging);
    } catch (err) {
      this.fail(err);
      return;
    }
    for (const n of names) this.take(n);
  }

  private take(name: string): void {
    if (!name.endsWith('.narinfo') || this.o.signal.aborted) return;
    const hash = name.slice(0, -'.narinfo'.length);
    const info = this.byHash.get(hash);
    if (!info || this.seen.has(hash)) return;
    this.seen.add(hash);
    const file = path.join(this.o.staging, name);
    const p = fs.promises.readFile(file, 'utf8').then(
      (text) => this.staged(info, text),
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT')
          this.seen.delete(hash); // an event for a name not in place yet: a later one reads it
        else this.fail(err);
      },
    );
    this.reading.add(p);
    void p.finally(() => this.reading.delete(p));
  }

  private staged(info: PathInfo, text: string): void {
    if (this.o.signal.aborted) return; // read as the push stopped: nothing more starts
    const nar = parseNarInfo(text);
    if (!nar || nar.storePath !== info.path || nar.url.includes('..') || !nar.url.startsWith('nar/')) {
      this.fail(new UserError(`Nix wrote an unexpected narinfo for ${info.path}.`, undefined, text.slice(0, 1000)));
      return;
    }
    this.o.backlog.add();
    this.o.onStaged(info, nar, text, path.join(this.o.staging, nar.url));
  }

  private fail(err: unknown): void {
    if (this.error !== undefined) return;
    this.error = err;
    this.o.fail(err);
  }
}

/** NARs in the staging folder not uploaded yet: what the backpressure bounds (narinfos waiting hold no disk). */
export class Backlog {
  private count = 0;
  private waiters: (() => void)[] = [];

  add(): void {
    this.count++;
  }

  release(): void {
    this.count--;
    const w = this.waiters;
    this.waiters = [];
    for (const wake of w) wake();
  }

  get size(): number {
    return this.count;
  }

  /** Resolves once at most `n` NARs wait (or the signal aborts). */
  async atMost(n: number, signal: AbortSignal): Promise<void> {
    while (this.count > n && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        signal.addEventListener('abort', done, { once: true });
        this.waiters.push(done);
      });
    }
  }
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
