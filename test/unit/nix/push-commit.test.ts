// The narinfo commit order, on its own, against a real S3 server (s3rver): NAR uploads finish in the worst order
// (the toplevel's first), and each narinfo must still be written only after its NAR, after the narinfos of its
// references and after nix-cache-info. Every write is checked when it is asked for, not only at the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PathInfo } from '../../../src/nix/closure';
import { NIX_CACHE_INFO, parseNarInfo } from '../../../src/nix/narinfo';
import { NarinfoCommits } from '../../../src/nix/pushUpload';
import { Bucket } from '../../../src/nix/s3';
import { hashPart } from '../../../src/nix/storePath';
import { startS3, type S3Server } from '../../fixtures/s3';

const HASHES: Record<string, string> = { lib: '1', data: '2', app: '3', top: '4' };
const storePath = (name: string) => `/nix/store/${HASHES[name]!.padStart(32, '0')}-${name}`;
const p = (name: string, refs: string[] = []): PathInfo => ({
  path: storePath(name),
  narHash: 'sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s',
  narSize: 8,
  references: refs.map(storePath),
  signatures: [],
});
// lib ← app ← top, and top also refers to itself and to data (which refers to nothing).
const lib = p('lib');
const data = p('data');
const app = p('app', ['lib']);
const top = p('top', ['app', 'data', 'top']);
const all = [lib, data, app, top];

const narKey = (i: PathInfo) => `nar/${hashPart(i.path)}.nar`;
const narinfo = (i: PathInfo) =>
  [
    `StorePath: ${i.path}`,
    `URL: ${narKey(i)}`,
    'Compression: none',
    `NarHash: ${i.narHash}`,
    `NarSize: ${i.narSize}`,
    `References: ${i.references.map((r) => r.slice(11)).join(' ')}`,
    '',
  ].join('\n');

interface Gate {
  open: () => void;
  fail: (err: Error) => void;
  /** The NAR's upload: waits for the gate, then really stores the NAR. */
  upload: Promise<void>;
}

function gate(b: Bucket, info: PathInfo, stored: Set<string>): Gate {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const opened = new Promise<void>((res, rej) => {
    open = res;
    fail = rej;
  });
  const upload = opened.then(async () => {
    await b.put(narKey(info), 'NAR-DATA', 'application/x-nix-nar');
    stored.add(narKey(info));
  });
  upload.catch(() => undefined);
  return { open, fail, upload };
}

/**
 * A commit run against the real bucket. Each narinfo write is checked at the moment it is asked for: its NAR is
 * stored, nix-cache-info is stored, and every reference this run commits has its narinfo stored already.
 */
async function setup(s3: S3Server) {
  const b = await Bucket.open({ cache: s3.cache(), credentials: s3.credentials });
  const stored = new Set<string>();
  const violations: string[] = [];
  let openCacheInfo!: () => void;
  const cacheInfo = new Promise<void>((res) => (openCacheInfo = res)).then(async () => {
    await b.put('nix-cache-info', NIX_CACHE_INFO, 'text/x-nix-cache-info');
    stored.add('nix-cache-info');
  });
  const committedOrder: string[] = [];
  const commits = new NarinfoCommits(
    all.map((i) => i.path),
    async (key, text) => {
      const info = parseNarInfo(text)!;
      if (!stored.has(info.url)) violations.push(`${key} before its NAR`);
      if (!stored.has('nix-cache-info')) violations.push(`${key} before nix-cache-info`);
      for (const r of info.references) {
        const rk = `${r.slice(0, 32)}.narinfo`;
        if (rk !== key && all.some((i) => `${hashPart(i.path)}.narinfo` === rk) && !stored.has(rk)) violations.push(`${key} before its reference ${rk}`);
      }
      await b.put(key, text, 'text/x-nix-narinfo');
      stored.add(key);
    },
    cacheInfo,
    new AbortController().signal,
    (path) => committedOrder.push(path.slice(44)),
  );
  return { b, stored, violations, openCacheInfo, commits, committedOrder };
}

test('narinfos are committed after their NAR, their references and nix-cache-info, whatever order the NARs finish in', async () => {
  const s3 = await startS3();
  const { b, stored, violations, openCacheInfo, commits, committedOrder } = await setup(s3);
  try {
    const gates = new Map(all.map((i) => [i.path, gate(b, i, stored)]));
    // Staged (and committed) toplevel first, as largest-first staging may hand them on.
    const tasks = [top, app, data, lib].map((i) => commits.commit(i, narinfo(i), gates.get(i.path)!.upload));
    // data's NAR first, while nix-cache-info is not there yet; then the rest, top first and lib last.
    gates.get(data.path)!.open();
    await gates.get(data.path)!.upload;
    assert.deepEqual(
      s3.created.filter((o) => o.key.endsWith('.narinfo')),
      [],
      'no narinfo while nix-cache-info is not there',
    );
    openCacheInfo();
    for (const i of [top, app, lib]) {
      gates.get(i.path)!.open();
      await gates.get(i.path)!.upload;
    }
    await Promise.all(tasks);
    assert.deepEqual(violations, []);
    assert.equal(committedOrder.indexOf('lib') < committedOrder.indexOf('app'), true, `lib before app: ${committedOrder.join(' ')}`);
    assert.equal(committedOrder.at(-1), 'top');
    // What the server stored, in order: every narinfo after its NAR and its references' narinfos.
    const at = (k: string) => s3.created.findIndex((o) => o.key === k);
    for (const i of all) {
      const k = `${hashPart(i.path)}.narinfo`;
      assert.ok(at(k) > at(narKey(i)), `${k} after its NAR`);
      assert.ok(at(k) > at('nix-cache-info'), `${k} after nix-cache-info`);
      for (const r of i.references) if (r !== i.path) assert.ok(at(k) > at(`${hashPart(r)}.narinfo`), `${i.path} after ${r}`);
    }
  } finally {
    b.destroy();
    await s3.stop();
  }
});

test("a NAR that fails to upload keeps its narinfo and its dependents' narinfos out of the bucket; the others go in", async () => {
  const s3 = await startS3();
  const { b, stored, violations, openCacheInfo, commits } = await setup(s3);
  try {
    openCacheInfo();
    const gates = new Map(all.map((i) => [i.path, gate(b, i, stored)]));
    const results = all.map((i) =>
      commits.commit(i, narinfo(i), gates.get(i.path)!.upload).then(
        () => 'ok',
        (e: Error) => e.message,
      ),
    );
    gates.get(lib.path)!.fail(new Error('lib upload failed'));
    for (const i of [data, app, top]) gates.get(i.path)!.open();
    assert.deepEqual(await Promise.all(results), ['lib upload failed', 'ok', 'lib upload failed', 'lib upload failed']);
    assert.deepEqual(violations, []);
    const narinfos = s3.created.filter((o) => o.key.endsWith('.narinfo')).map((o) => o.key);
    assert.deepEqual(narinfos, [`${hashPart(data.path)}.narinfo`], 'only data, which needs nothing that failed');
  } finally {
    b.destroy();
    await s3.stop();
  }
});

// The timeout only turns a hang (a dependent waiting forever) into a failure; nothing waits on it.
test('paths that were never staged stop their dependents from waiting, and are never committed', { timeout: 60_000 }, async () => {
  const s3 = await startS3();
  const { b, stored, violations, openCacheInfo, commits } = await setup(s3);
  try {
    openCacheInfo();
    // Nix produced lib and top only (app and data never appeared), then stopped.
    const gates = new Map(all.map((i) => [i.path, gate(b, i, stored)]));
    const results = [lib, top].map((i) =>
      commits.commit(i, narinfo(i), gates.get(i.path)!.upload).then(
        () => 'ok',
        (e: Error) => e.message,
      ),
    );
    gates.get(lib.path)!.open();
    gates.get(top.path)!.open();
    commits.abandonRest(new Error('not produced'));
    assert.deepEqual(await Promise.all(results), ['ok', 'not produced']);
    assert.deepEqual(violations, []);
    assert.deepEqual(
      s3.created.filter((o) => o.key.endsWith('.narinfo')).map((o) => o.key),
      [`${hashPart(lib.path)}.narinfo`],
    );
    await assert.rejects(commits.commit(lib, narinfo(lib), Promise.resolve()), /committed twice/);
  } finally {
    b.destroy();
    await s3.stop();
  }
});
