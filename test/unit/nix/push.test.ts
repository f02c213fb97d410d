// Push against a real S3 server (s3rver) and read back with real Nix over HTTP, signatures checked.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { UserError } from '../../../src/base/errors';
import { DEFAULTS, type CacheSettings } from '../../../src/base/settings';
import { build } from '../../../src/nix/build';
import { closureOf, type PathInfo } from '../../../src/nix/closure';
import { parseNarInfo } from '../../../src/nix/narinfo';
import { push, type PushOptions, type PushProgress } from '../../../src/nix/push';
import { presentInBucket } from '../../../src/nix/pushLookup';
import { largestFirst } from '../../../src/nix/pushStage';
import { Bucket } from '../../../src/nix/s3';
import { generateSigningKey, type GeneratedKey } from '../../../src/nix/sign';
import { hashPart } from '../../../src/nix/storePath';
import { toplevelInstallable } from '../../../src/nix/flake';
import { resolveNix } from '../../../src/nix/run';
import { closedPort, startHashCheckingProxy, startS3, startS3ErrorServer, type S3Server } from '../../fixtures/s3';
import { nixTestEnv, tempFlake, type TempFlake } from './helpers';

const exec = promisify(execFile);
const MiB = 1024 * 1024;

let f: TempFlake;
let key: GeneratedKey;
let toplevel: string;
let closure: string[];

before(async () => {
  f = tempFlake();
  toplevel = (await build(toplevelInstallable(f.dir, 'demo'), { env: f.env })).path;
  closure = (await closureOf([toplevel], { env: f.env })).map((i) => i.path);
  key = await generateSigningKey('push-test-1', path.join(path.dirname(f.dir), 'keys'), { env: f.env });
});
after(() => f.cleanup());

function options(s3: S3Server, extra: Partial<PushOptions> = {}): PushOptions {
  return {
    cache: s3.cache({ signingKeyFile: key.secretKeyFile }),
    credentials: s3.credentials,
    nix: { env: f.env },
    // Small enough that the 12 MiB blob goes up as a multipart upload.
    multipartThreshold: 5 * MiB,
    partSize: 5 * MiB,
    ...extra,
  };
}

/** What a resumed push leaves: no NAR stored twice, each narinfo after its NAR, a closure Nix fetches with signatures checked. */
async function assertCompleteAfterResume(s3: S3Server): Promise<void> {
  const narKeys = s3.created.filter((o) => o.key.startsWith('nar/')).map((o) => o.key);
  assert.equal(new Set(narKeys).size, narKeys.length, 'no NAR stored twice');
  await assertOrdered(s3);
  const fresh = await fetchInto(s3.httpUrl, key.publicKey, [toplevel]);
  fresh.cleanup();
}

/** A request this process began, seen at its start: whether the push had been cancelled, and had returned, by then. */
interface Began {
  what: string;
  afterCancel: boolean;
  afterReturn: boolean;
}

/**
 * A push, one upload at a time, cancelled at the worst moment: a NAR just stored, its narinfo not yet sent. Resolves
 * once the server has answered every request, with every request the push began, seen on this side: the server's
 * own order cannot tell a request begun just before the cancel from one begun after it.
 */
async function pushCancelledMidway(s3: S3Server): Promise<Began[]> {
  const ctl = new AbortController();
  let returned = false;
  const began: Began[] = [];
  const onStart = (m: unknown) => {
    const r = (m as { request: http.ClientRequest }).request;
    began.push({ what: `${r.method} ${r.path}`, afterCancel: ctl.signal.aborted, afterReturn: returned });
  };
  s3.onCreated = (o) => {
    const narinfos = s3.created.filter((c) => c.key.endsWith('.narinfo')).length;
    if (o.key.startsWith('nar/') && narinfos >= 2) ctl.abort();
  };
  diagnostics.subscribe('http.client.request.start', onStart);
  try {
    await assert.rejects(push([toplevel], options(s3, { signal: ctl.signal, uploadConcurrency: 1 })), (e: unknown) => (e as Error).name === 'AbortError');
    returned = true;
    // A body the server already had whole may still be stored once the client has let go of it: bytes sent cannot
    // be taken back. Every such object is checked like the rest (assertOrdered); counts wait for them.
    await s3.idle();
  } finally {
    diagnostics.unsubscribe('http.client.request.start', onStart);
    s3.onCreated = undefined;
  }
  return began;
}

/** `nix copy --from <cache> --to <empty store>` with signatures required; resolves with the store's root. */
async function fetchInto(url: string, trustedKey: string, paths: string[]): Promise<{ root: string; cleanup(): void }> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-fresh-'));
  const root = path.join(tmp, 'store');
  const env = nixTestEnv(path.join(tmp, 'home'), `require-sigs = true\ntrusted-public-keys = ${trustedKey}`);
  fs.mkdirSync(path.join(tmp, 'home'));
  const cleanup = () => fs.rmSync(tmp, { recursive: true, force: true });
  try {
    await exec('nix', ['copy', '--from', url, '--to', root, ...paths], { env });
    return { root, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

async function get(url: string): Promise<string> {
  const r = await fetch(url);
  assert.equal(r.status, 200, url);
  return r.text();
}

/**
 * The bucket was valid at every moment: each narinfo became visible after its NAR and after the narinfos of its
 * references, and nix-cache-info came before any narinfo.
 */
async function assertOrdered(s3: S3Server): Promise<void> {
  const at = new Map<string, number>();
  s3.created.forEach((o, i) => at.has(o.key) || at.set(o.key, i));
  const firstNarinfo = s3.created.findIndex((o) => o.key.endsWith('.narinfo'));
  if (firstNarinfo >= 0) assert.ok((at.get('nix-cache-info') ?? Infinity) < firstNarinfo, 'nix-cache-info before the first narinfo');
  for (const [k, i] of at) {
    if (!k.endsWith('.narinfo')) continue;
    const info = parseNarInfo(await get(`${s3.httpUrl}/${k}`));
    assert.ok(info, `${k} parses`);
    assert.ok((at.get(info.url) ?? Infinity) < i, `${info.url} was stored before ${k}`);
    for (const r of info.references) {
      const rk = `${r.slice(0, 32)}.narinfo`;
      if (rk !== k) assert.ok((at.get(rk) ?? Infinity) < i, `reference ${rk} was stored before ${k}`);
    }
  }
}

test('push, fetch back into an empty store with signatures checked, reject a wrong key, re-push nothing', async () => {
  const s3 = await startS3();
  try {
    const seen: PushProgress[] = [];
    const r = await push([toplevel], options(s3, { onProgress: (p) => seen.push(p) }));
    assert.equal(r.closure, closure.length);
    assert.equal(r.uploadedPaths, closure.length);
    assert.equal(r.uploadedNars, closure.length);
    assert.equal(r.cacheInfoUploaded, true);
    for (const p of closure)
      assert.ok(
        s3.created.some((o) => o.key === `${hashPart(p)}.narinfo`),
        `${p} has a narinfo`,
      );
    // The bucket had no nix-cache-info, so no narinfo: none was looked up.
    assert.deepEqual(
      s3.requests.filter((q) => /\.narinfo/.test(q.url) && q.method !== 'PUT').map((q) => `${q.method} ${q.url}`),
      [],
    );
    await assertOrdered(s3);

    // The 12 MiB blob went up in parts; everything else in one PUT each.
    assert.ok(
      s3.requests.some((q) => q.method === 'POST' && /\?uploads/.test(q.url)),
      'a multipart upload was started',
    );
    assert.ok(s3.requests.filter((q) => q.method === 'PUT' && /partNumber=/.test(q.url)).length >= 3, 'in several parts');

    // Progress: phases in order, counts that end at the totals, bytes that match what was sent.
    const phases = [...new Set(seen.map((p) => p.phase))];
    // No separate signing phase: Nix signs each narinfo as it stages the path.
    assert.deepEqual(phases, ['preparing', 'checking', 'uploading', 'done']);
    const last = seen[seen.length - 1]!;
    assert.equal(last.pathsUploaded, closure.length);
    assert.equal(last.pathsChecked, closure.length);
    assert.equal(last.bytesUploaded, r.uploadedBytes);
    const stored = s3.created.reduce((n, o) => n + (o.size ?? 0), 0);
    assert.equal(r.uploadedBytes, stored, 'bytes reported = bytes the server stored');
    assert.ok(
      seen.some((p) => p.phase === 'uploading' && p.bytesUploaded > 0 && p.bytesUploaded < r.uploadedBytes),
      'progress in between',
    );

    // A fresh store gets the whole closure over HTTP, signatures required.
    const fresh = await fetchInto(s3.httpUrl, key.publicKey, [toplevel]);
    try {
      const app = closure.find((p) => p.endsWith('-thebacknd-test-app'))!;
      assert.equal(fs.readFileSync(path.join(fresh.root, app, 'bin/app'), 'utf8'), fs.readFileSync(path.join(app, 'bin/app'), 'utf8'));
      const blobD = closure.find((p) => p.endsWith('-blob-d'))!;
      assert.equal(fs.statSync(path.join(fresh.root, blobD, 'blob')).size, 12 * MiB);
    } finally {
      fresh.cleanup();
    }

    // A key that never signed these paths is refused, by nix copy and by nix store verify.
    const wrong = await generateSigningKey('push-test-1', path.join(path.dirname(f.dir), 'wrong-key'), { env: f.env });
    await assert.rejects(fetchInto(s3.httpUrl, wrong.publicKey, [toplevel]), /lacks a valid signature/);
    const verify = await exec('nix', ['store', 'verify', '--store', s3.httpUrl, '--trusted-public-keys', wrong.publicKey, '-r', toplevel], { env: f.env }).then(
      (o) => ({ code: 0, stderr: o.stderr }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.notEqual(verify.code, 0);
    assert.match(verify.stderr, /is untrusted/);
    const ok = await exec('nix', ['store', 'verify', '--store', s3.httpUrl, '--trusted-public-keys', key.publicKey, '-r', toplevel], { env: f.env });
    assert.doesNotMatch(ok.stderr, /untrusted|corrupt/);

    // Second push: lookups only, not a single write.
    const before = s3.requests.length;
    const again = await push([toplevel], options(s3));
    assert.equal(again.uploadedPaths, 0);
    assert.equal(again.alreadyPresent, closure.length);
    assert.equal(again.uploadedBytes, 0);
    const writesAfter = s3.requests.slice(before).filter((q) => q.method !== 'HEAD' && q.method !== 'GET');
    assert.deepEqual(writesAfter, [], 'no PUT, POST or DELETE on a warm push');
  } finally {
    await s3.stop();
  }
});

test('a cancelled push leaves a valid cache, and the next push resumes without sending NARs twice', async () => {
  const s3 = await startS3();
  try {
    const began = await pushCancelledMidway(s3);
    // Parts of a NAR already on its way may still be answered; no other NAR may start once the push is cancelled.
    const narOf = (what: string) => /\/nar\/[^?]+/.exec(what)?.[0];
    const startedBefore = new Set(began.filter((b) => !b.afterCancel).map((b) => narOf(b.what)));
    assert.deepEqual(
      began.filter((b) => b.afterCancel && narOf(b.what) && !startedBefore.has(narOf(b.what))).map((b) => b.what),
      [],
      'no NAR upload began after the cancel',
    );
    assert.deepEqual(
      began.filter((b) => b.afterReturn).map((b) => b.what),
      [],
      'the cancelled push began nothing after it returned',
    );
    const narinfos = s3.created.filter((o) => o.key.endsWith('.narinfo')).length;
    assert.ok(narinfos >= 2 && narinfos < closure.length, `partial cache (${narinfos} of ${closure.length})`);
    const orphanNars = s3.created.filter((o) => o.key.startsWith('nar/')).length - narinfos;
    assert.ok(orphanNars >= 1, 'the cancel came between a NAR and its narinfo');
    await assertOrdered(s3);

    // Small batches: several `nix copy` runs, each seeing the previous ones' narinfos in the staging cache.
    const resumed = await push([toplevel], options(s3, { uploadConcurrency: 1, batchSize: 2 }));
    assert.equal(resumed.alreadyPresent, narinfos);
    assert.equal(resumed.uploadedPaths, closure.length - narinfos);
    assert.ok(resumed.reusedNars >= 1, 'the NAR stored before the cancel was not sent again');
    await assertCompleteAfterResume(s3);
  } finally {
    await s3.stop();
  }
});

test('a push into a new bucket (no nix-cache-info) asks nothing about its paths or NARs: no HEAD, no listing', async () => {
  const s3 = await startS3();
  try {
    const result = await push([toplevel], options(s3));
    assert.equal(result.uploadedPaths, closure.length);
    assert.deepEqual(
      s3.requests.filter((q) => q.method === 'HEAD' || (q.method === 'GET' && /[?&](prefix|delimiter|list-type)=/.test(q.url))).map((q) => `${q.method} ${q.url}`),
      [],
    );
    await assertOrdered(s3);
  } finally {
    await s3.stop();
  }
});

/**
 * A `nix` that logs each run's subcommand, and whose closure query (`path-info`) waits, for up to 20 s, until a
 * `nix copy` has started: it records whether one had. With `stallWholeClosure`, a `nix copy` of the whole closure
 * (no --no-recursive) is a 30 s sleep instead: it has compressed nothing when it is stopped, and never will.
 */
function nixThatWaitsForCopy(stallWholeClosure = false): { nixBin: string; runs: () => string[]; closureWaitedFor: () => string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-nix-wrapper-'));
  const nixBin = path.join(dir, 'nix');
  const real = resolveNix()!;
  fs.writeFileSync(
    nixBin,
    `#!/bin/sh
d=${JSON.stringify(dir)}
for a in "$@"; do case "$a" in copy|path-info) echo "$a" >> "$d/runs"; cmd=$a; break;; esac; done
[ "$cmd" = copy ] && touch "$d/copy-started"
${stallWholeClosure ? '[ "$cmd" = copy ] && case " $* " in *" --no-recursive "*) ;; *) echo whole >> "$d/runs"; exec sleep 30;; esac' : ''}
if [ "$cmd" = path-info ]; then
  i=0; while [ ! -e "$d/copy-started" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
  if [ -e "$d/copy-started" ]; then echo copy > "$d/waited"; else echo 'nothing, for 20 s' > "$d/waited"; fi
fi
exec ${JSON.stringify(real)} "$@"
`,
    { mode: 0o755 },
  );
  const read = (f: string) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), 'utf8') : '');
  return {
    nixBin,
    runs: () => read('runs').split('\n').filter(Boolean),
    closureWaitedFor: () => read('waited').trim(),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A push into a new bucket through nixThatWaitsForCopy: a nix copy ran before the closure query answered, the whole
 * closure is in the bucket, valid at every moment, and fetched back with signatures checked; `check` gets the runs.
 */
async function pushWithEarlyNix(stallWholeClosure: boolean, extra: Partial<PushOptions>, check: (runs: string[], s3: S3Server) => void): Promise<void> {
  const s3 = await startS3();
  const nix = nixThatWaitsForCopy(stallWholeClosure);
  try {
    const result = await push([toplevel], options(s3, { nix: { env: f.env, nixBin: nix.nixBin }, ...extra }));
    assert.equal(nix.closureWaitedFor(), 'copy', 'a nix copy was running before the closure query answered');
    assert.equal(result.uploadedPaths, closure.length);
    check(nix.runs(), s3);
    await assertOrdered(s3);
    (await fetchInto(s3.httpUrl, key.publicKey, [toplevel])).cleanup();
  } finally {
    nix.cleanup();
    await s3.stop();
  }
}

test('into a new bucket, Nix starts compressing the closure while the closure is still being queried', () =>
  pushWithEarlyNix(false, {}, (runs) => assert.deepEqual(runs.sort(), ['copy', 'path-info'], 'one Nix run compresses the whole closure (one batch)')));

test('into a new bucket, a closure of more than one batch stops the early Nix run and goes on in batches, each path compressed once', () =>
  pushWithEarlyNix(true, { batchSize: 2 }, (runs, s3) => {
    // The early run (stopped before it compressed anything), the closure query, then a run per batch of two.
    assert.deepEqual(runs.filter((r) => r !== 'copy').sort(), ['path-info', 'whole']);
    assert.equal(runs.filter((r) => r === 'copy').length, 1 + Math.ceil(closure.length / 2), runs.join(', '));
    const narKeys = s3.created.filter((o) => o.key.startsWith('nar/')).map((o) => o.key);
    assert.equal(new Set(narKeys).size, narKeys.length, 'no NAR stored twice');
  }));

test('a push without Nix says to install it and leaves no staging folder behind, whichever side fails first', async () => {
  const s3 = await startS3();
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-push-tmp-'));
  try {
    const env = { ...f.env, PATH: path.join(tmpDir, 'no-bin'), HOME: path.join(tmpDir, 'no-home') };
    await assert.rejects(push([toplevel], options(s3, { nix: { env }, tmpDir })), (e: unknown) => e instanceof UserError && /Nix is not installed/.test(e.message));
    assert.deepEqual(fs.readdirSync(tmpDir), []);
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    await s3.stop();
  }
});

test('a NAR goes up signed with the SHA-256 Nix computed for it: a staged file changed before it was sent is refused, and its path is not committed', async () => {
  const s3 = await startS3();
  const proxy = await startHashCheckingProxy(s3.endpoint);
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-push-tmp-'));
  try {
    const lib = closure.find((p) => p.endsWith('-thebacknd-test-lib'))!;
    // The first time Nix hands on a staged NAR, before any upload reads it, every staged NAR gets one byte changed.
    let tampered = 0;
    const tamper = (p: PushProgress) => {
      if (p.pathsCompressed !== 1 || tampered) return;
      for (const dir of fs.readdirSync(tmpDir)) {
        const nar = path.join(tmpDir, dir, 'nar');
        for (const n of fs.existsSync(nar) ? fs.readdirSync(nar) : []) {
          const file = path.join(nar, n);
          const bytes = fs.readFileSync(file);
          bytes[bytes.length - 1]! ^= 0xff;
          fs.writeFileSync(file, bytes);
          tampered++;
        }
      }
    };
    const err = await push([lib], options(s3, { cache: s3.cache({ signingKeyFile: key.secretKeyFile, endpoint: proxy.endpoint }), tmpDir, onProgress: tamper })).then(
      () => assert.fail('the push stored a NAR that is not what Nix compressed'),
      (e: unknown) => e,
    );
    assert.ok(tampered > 0, 'a staged NAR was changed');
    assert.ok(err instanceof UserError, String(err));
    assert.match(err.message, /do not match the checksum.*Push again/);
    assert.ok(
      proxy.refused.some((q) => q.url.includes('/nar/')),
      'the bucket refused the changed NAR',
    );
    assert.equal(s3.created.filter((o) => o.key === `${hashPart(lib)}.narinfo`).length, 0, 'no narinfo names the refused NAR');

    // Untouched, the same push goes through the same checks, and Nix fetches it back with signatures checked.
    await push([lib], options(s3, { cache: s3.cache({ signingKeyFile: key.secretKeyFile, endpoint: proxy.endpoint }) }));
    const fresh = await fetchInto(s3.httpUrl, key.publicKey, [lib]);
    fresh.cleanup();
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    await proxy.stop();
    await s3.stop();
  }
});

test('the checksum mode is configurable: WHEN_SUPPORTED sends CRC32 checksums, WHEN_REQUIRED does not', async () => {
  for (const mode of ['WHEN_SUPPORTED', 'WHEN_REQUIRED'] as const) {
    const s3 = await startS3();
    try {
      const lib = closure.find((p) => p.endsWith('-thebacknd-test-lib'))!;
      await push([lib], options(s3, { cache: s3.cache({ signingKeyFile: key.secretKeyFile, checksumMode: mode }) }));
      const puts = s3.requests.filter((q) => q.method === 'PUT');
      assert.ok(puts.length >= 3);
      const withChecksum = puts.filter((q) => q.headers['x-amz-checksum-crc32']).length;
      assert.equal(withChecksum, mode === 'WHEN_SUPPORTED' ? puts.length : 0, mode);
      const fresh = await fetchInto(s3.httpUrl, key.publicKey, [lib]);
      fresh.cleanup();
    } finally {
      await s3.stop();
    }
  }
});

test('an unreachable endpoint says so', async () => {
  const port = await closedPort();
  const cache = { ...dummyCache(), endpoint: `http://127.0.0.1:${port}`, signingKeyFile: key.secretKeyFile };
  // The cause is in the message (refused, not a timeout after retries); no stopwatch.
  await assert.rejects(
    push([toplevel], { cache, credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }, nix: { env: f.env } }),
    (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.message, `Cannot reach the cache at http://127.0.0.1:${port} (connection refused). Check thebacknd.cache.endpoint and your network connection.`);
      assert.equal(e.fix?.setting, 'thebacknd.cache.endpoint');
      return true;
    },
  );
});

test('wrong credentials and missing buckets, as S3 reports them, become clear messages', async () => {
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  const cases: [string, string, number, RegExp][] = [
    [
      'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.',
      403,
      /^The cache at http:\/\/127\.0\.0\.1:\d+ does not know this access key ID: set the cache credentials again\.$/,
    ],
    [
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      403,
      /rejected the secret access key \(the signature does not match\): set the cache credentials again\.$/,
    ],
    ['AccessDenied', 'Access Denied', 403, /^Access denied to bucket "cache" at .*: the cache key needs read and write access to it\.$/],
    ['NoSuchBucket', 'The specified bucket does not exist', 404, /^Bucket "cache" does not exist at http:\/\/127\.0\.0\.1:\d+: create it or fix thebacknd\.cache\.bucket\.$/],
  ];
  for (const [code, message, status, expected] of cases) {
    const srv = await startS3ErrorServer(code, message, status);
    try {
      const cache = { ...dummyCache(), endpoint: srv.endpoint, signingKeyFile: key.secretKeyFile };
      await assert.rejects(push([toplevel], { cache, credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: secret }, nix: { env: f.env } }), (e: unknown) => {
        assert.ok(e instanceof UserError, String(e));
        assert.match(e.message, expected, code);
        assert.match(e.detail ?? '', new RegExp(code));
        assert.ok(!`${e.message}${e.detail}`.includes(secret), 'the secret never appears');
        if (code !== 'NoSuchBucket') assert.equal(e.fix?.provider, 'cache');
        return true;
      });
      assert.ok(srv.requests.length > 0, 'the real client talked to the server');
      assert.deepEqual(
        srv.requests.filter((q) => q.method !== 'GET'),
        [],
        'stopped at the first answer, nothing written',
      );
    } finally {
      await srv.stop();
    }
  }
  // A HEAD carries no error body: a 403 there still reads as an access problem.
  const srv = await startS3ErrorServer('AccessDenied', 'Access Denied', 403);
  try {
    const b = await Bucket.open({ cache: { ...dummyCache(), endpoint: srv.endpoint }, credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: secret } });
    await assert.rejects(b.head('x.narinfo'), /Access denied to bucket "cache" at .* \(HTTP 403\): check the cache credentials/);
    b.destroy();
  } finally {
    await srv.stop();
  }
});

test('a bucket holding a cache for another store directory is refused', async () => {
  const s3 = await startS3();
  try {
    const b = await Bucket.open({ cache: s3.cache(), credentials: s3.credentials });
    await b.put('nix-cache-info', 'StoreDir: /gnu/store\n', 'text/x-nix-cache-info');
    b.destroy();
    await assert.rejects(push([toplevel], options(s3)), /holds a Nix cache for another store directory/);
    assert.equal(s3.created.filter((o) => o.key !== 'nix-cache-info').length, 0);
  } finally {
    await s3.stop();
  }
});

test('settings that cannot work are refused before any traffic', async () => {
  const base = dummyCache();
  const creds = { accessKeyId: 'a', secretAccessKey: 'b' };
  await assert.rejects(push([toplevel], { cache: { ...base, endpoint: '' }, credentials: creds }), /No binary cache is configured/);
  await assert.rejects(push([toplevel], { cache: { ...base, endpoint: 'ftp://x' }, credentials: creds }), /must start with https:\/\//);
  await assert.rejects(push([toplevel], { cache: { ...base, bucket: '' }, credentials: creds }), /No cache bucket is set/);
  await assert.rejects(push([toplevel], { cache: { ...base, signingKeyFile: '' }, credentials: creds }), /No signing key is set/);
  await assert.rejects(push([`${toplevel}/sw`], { cache: base, credentials: creds }), /is not a Nix store path/);
});

function dummyCache(): CacheSettings {
  return { ...DEFAULTS.cache, endpoint: 'http://127.0.0.1:9', bucket: 'cache', signingKeyFile: key.secretKeyFile };
}

// Issue #16: a large closure is looked up through the bucket's listing; a cold push starts the largest NARs first.
test('a large closure is looked up by listing the bucket: a warm re-push sends one listing, no per-path lookups', async () => {
  const s3 = await startS3();
  try {
    await push([toplevel], options(s3));
    const before = s3.requests.length;
    const again = await push([toplevel], options(s3, { listThreshold: 1 }));
    assert.equal(again.alreadyPresent, closure.length);
    assert.equal(again.uploadedPaths, 0);
    const requests = s3.requests.slice(before);
    assert.deepEqual(
      requests.filter((q) => q.method === 'HEAD').map((q) => q.url),
      [],
      'no narinfo looked up one by one',
    );
    assert.equal(requests.filter((q) => q.method === 'GET' && /delimiter=/.test(q.url)).length, 1, 'one listing page');
    assert.deepEqual(
      requests.filter((q) => q.method !== 'HEAD' && q.method !== 'GET'),
      [],
      'no writes',
    );
  } finally {
    await s3.stop();
  }
});

test('a bounded listing and per-path lookups find the same paths in a partly pushed bucket', async () => {
  const s3 = await startS3();
  const bucket = await Bucket.open({ cache: s3.cache({ signingKeyFile: key.secretKeyFile }), credentials: s3.credentials });
  try {
    const ctl = new AbortController();
    s3.onCreated = () => {
      if (s3.created.filter((c) => c.key.endsWith('.narinfo')).length >= 2) ctl.abort();
    };
    await assert.rejects(push([toplevel], options(s3, { signal: ctl.signal, uploadConcurrency: 1 })));
    s3.onCreated = undefined;
    const infos = await closureOf([toplevel], { env: f.env });
    const signal = new AbortController().signal;
    const byLookups = await presentInBucket(bucket, infos, { listThreshold: Infinity }, signal);
    assert.ok(byLookups.size >= 2 && byLookups.size < infos.length, `partly pushed (${byLookups.size} of ${infos.length})`);
    // Pages of 2 keys; with checkConcurrency 1 the listing stops after ceil(n / 2) pages and looks the rest up.
    for (const [pageSize, checkConcurrency] of [
      [1000, 16],
      [2, 1],
      [1, 1],
      [2, 100],
    ] as const) {
      const listed = await presentInBucket(bucket, infos, { listThreshold: 1, listPageSize: pageSize, checkConcurrency }, signal);
      assert.deepEqual([...listed].sort(), [...byLookups].sort(), `pages of ${pageSize}, ${checkConcurrency} lookups at a time`);
    }
  } finally {
    bucket.destroy();
    await s3.stop();
  }
});

test('largest first: references before the paths that use them, and among the ready paths the largest NAR', () => {
  const p = (name: string, narSize: number, references: string[] = []): PathInfo => ({
    path: `/nix/store/${name.padEnd(32, 'a')}-${name}`,
    narHash: '',
    narSize,
    references: references.map((r) => `/nix/store/${r.padEnd(32, 'a')}-${r}`),
    signatures: [],
  });
  const paths = [p('top', 10, ['big', 'small', 'mid']), p('small', 1), p('mid', 50, ['lib']), p('big', 100, ['lib']), p('lib', 5), p('huge', 1000, [])];
  assert.deepEqual(
    largestFirst(paths).map((i) => i.path.split('-').pop()),
    ['huge', 'lib', 'big', 'mid', 'small', 'top'],
  );
});

test('a resumed push with many NARs to send finds those left by the cancel in one nar/ listing, not a HEAD each', async () => {
  const s3 = await startS3();
  try {
    await pushCancelledMidway(s3);
    const narinfos = s3.created.filter((o) => o.key.endsWith('.narinfo')).length;
    const before = s3.requests.length;
    const resumed = await push([toplevel], options(s3, { listThreshold: 1 }));
    assert.equal(resumed.uploadedPaths, closure.length - narinfos);
    assert.ok(resumed.reusedNars >= 1, 'the NAR stored before the cancel was not sent again');
    const requests = s3.requests.slice(before);
    assert.deepEqual(
      requests.filter((q) => q.method === 'HEAD'),
      [],
      'no HEAD, for narinfos or NARs',
    );
    assert.equal(requests.filter((q) => q.method === 'GET' && /prefix=nar%2F/.test(q.url)).length, 1, 'one listing of nar/');
    await assertCompleteAfterResume(s3);
  } finally {
    await s3.stop();
  }
});
