// What the bucket already holds, asked the cheapest way for the number of keys in question: one HEAD per key for a
// few, the bucket's listing (1,000 keys per request) for many. Used for the closure's narinfos (which paths are
// complete) and for the NARs a push is about to send (which ones an interrupted push left behind).

import { setMaxListeners } from 'node:events';
import type { PathInfo } from './closure';
import { mapLimit } from './pool';
import { abortError } from './run';
import type { Bucket } from './s3';
import { hashPart } from './storePath';

export interface LookupOptions {
  /** At least this many keys are looked up through the bucket's listing (default 128). */
  listThreshold?: number;
  /** HEAD requests in flight (default 16). */
  checkConcurrency?: number;
  /** Keys per listing page (default 1,000, S3's maximum). */
  listPageSize?: number;
}

/** What a bounded listing saw: every key up to `through` (inclusive) with its size. */
export interface Listing {
  sizes: Map<string, number>;
  /** The last key the listing covers; '\uffff' when it reached the end. */
  through: string;
}

const narinfoKey = (p: string) => `${hashPart(p)}.narinfo`;

/**
 * A listing page costs about one wave of parallel lookups: for `n` keys, list while that stays cheaper than looking
 * up the rest. Keys are in order in the listing, so the keys up to the last one listed are known exactly.
 */
export function pagesWorthListing(n: number, opts: LookupOptions): number {
  return Math.max(1, Math.ceil(n / (opts.checkConcurrency ?? 16) / 2));
}

/** Lists the keys directly under `prefix`, at most `maxPages` pages. */
export async function listBounded(b: Bucket, prefix: string, maxPages: number, opts: LookupOptions, signal: AbortSignal): Promise<Listing> {
  const sizes = new Map<string, number>();
  let marker: string | undefined;
  let pages = 0;
  do {
    const page = await b.listPage(prefix, marker, signal, opts.listPageSize ?? 1000);
    pages++;
    page.keys.forEach((k, i) => sizes.set(k, page.sizes[i] ?? 0));
    marker = page.next;
  } while (marker && pages < maxPages);
  return { sizes, through: marker ?? '\uffff' };
}

/** HEADs `items` a few at a time; the first failure stops the others and is what this rejects with. */
async function headEach<T>(items: readonly T[], concurrency: number, outer: AbortSignal, fn: (item: T, signal: AbortSignal) => Promise<void>): Promise<void> {
  const ctl = new AbortController();
  const signal = AbortSignal.any([outer, ctl.signal]);
  setMaxListeners(256, signal);
  let first: unknown;
  await mapLimit(items, concurrency, async (item) => {
    if (signal.aborted) throw abortError();
    try {
      await fn(item, signal);
    } catch (err) {
      first ??= err;
      ctl.abort();
      throw err;
    }
  }).catch((err: unknown) => {
    throw first ?? err;
  });
}

/**
 * Which closure paths the bucket already holds (their narinfo exists: the push writes it last, so the path is
 * complete). A small closure asks for each narinfo; a large one reads the bucket's listing, a bounded number of
 * pages, and asks for the paths beyond the last key listed one by one.
 */
export async function presentInBucket(
  b: Bucket,
  closure: readonly PathInfo[],
  opts: LookupOptions,
  signal: AbortSignal,
  checked: (n: number) => void = () => undefined,
): Promise<Set<string>> {
  const present = new Set<string>();
  let unknown: readonly PathInfo[] = closure;
  if (closure.length >= (opts.listThreshold ?? 128)) {
    const listed = await listBounded(b, '', pagesWorthListing(closure.length, opts), opts, signal);
    for (const i of closure) if (listed.sizes.has(narinfoKey(i.path))) present.add(i.path);
    unknown = closure.filter((i) => narinfoKey(i.path) > listed.through);
    checked(closure.length - unknown.length);
  }
  await headEach(unknown, opts.checkConcurrency ?? 16, signal, async (info, s) => {
    if ((await b.head(narinfoKey(info.path), s)) !== undefined) present.add(info.path);
    checked(1);
  });
  return present;
}

/**
 * Sizes of the NARs already in the bucket, asked for as the push produces them. When many NARs are about to be
 * sent, one listing of `nar/` (started at once, in the background) answers for all of them instead of a HEAD
 * each; keys beyond what the bounded listing covered are asked for one by one.
 */
export class NarIndex {
  private readonly listing: Promise<Listing> | undefined;

  constructor(
    private readonly bucket: Bucket,
    expected: number,
    opts: LookupOptions,
    private readonly signal: AbortSignal,
    /** The bucket had no nix-cache-info when the push began: no earlier push left NARs there worth asking about. */
    newBucket = false,
  ) {
    // In a new bucket, a NAR left by a push interrupted before its nix-cache-info landed is sent again: rare, and
    // cheaper than a HEAD per NAR on every first push.
    if (newBucket) this.listing = Promise.resolve({ sizes: new Map(), through: '\uffff' });
    else if (expected >= (opts.listThreshold ?? 128)) {
      this.listing = listBounded(bucket, 'nar/', pagesWorthListing(expected, opts), opts, signal);
      this.listing.catch(() => undefined); // awaited by sizeOf(); a failure surfaces there
    }
  }

  /** Size of the object at `key`, or undefined when the bucket has none. */
  async sizeOf(key: string): Promise<number | undefined> {
    if (this.listing) {
      const l = await this.listing;
      if (key <= l.through) return l.sizes.get(key);
    }
    return this.bucket.head(key, this.signal);
  }
}
