// Push benchmark against a real S3 server (s3rver on 127.0.0.1), in one run:
// - cold push (sign, closure, lookups, Nix compression, uploads) vs raw PutObject of the very same files;
// - warm re-push of the same closure: its time and the bytes it sends.
// The closure (test/fixtures/flakes/bench) is 6 × ~8 MiB of half random, half base64 data plus two small paths.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from '../src/nix/build';
import { closureOf } from '../src/nix/closure';
import { push, type PushOptions } from '../src/nix/push';
import { runNix } from '../src/nix/run';
import { Bucket } from '../src/nix/s3';
import { mapLimit } from '../src/nix/pool';
import { generateSigningKey } from '../src/nix/sign';
import { startS3 } from '../test/fixtures/s3';

const ROOT = path.resolve(__dirname, '..', '..');
const MiB = 1024 * 1024;
const UPLOADS = 4;

export async function benchPush(): Promise<Record<string, number>> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-bench-push-'));
  const home = path.join(tmp, 'home');
  fs.mkdirSync(home);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    XDG_CACHE_HOME: path.join(home, 'cache'),
    NIX_CONFIG: ['build-users-group =', 'substituters =', 'sandbox = false', 'experimental-features = nix-command flakes'].join('\n'),
  };
  const cleanups: (() => Promise<void> | void)[] = [() => fs.rmSync(tmp, { recursive: true, force: true })];
  try {
    const flake = path.join(tmp, 'flake');
    fs.cpSync(path.join(ROOT, 'test/fixtures/flakes/bench'), flake, { recursive: true });
    const top = (await build(`${flake}#default`, { env })).path;
    const closure = await closureOf([top], { env });
    const narBytes = closure.reduce((n, i) => n + i.narSize, 0);
    const key = await generateSigningKey('bench-1', path.join(tmp, 'keys'), { env });

    // The same files Nix produces for the push, uploaded with plain PutObject at the same concurrency: the floor.
    // It runs first, so the SDK's one-time load (timed on its own) is not counted against the push.
    const files = path.join(tmp, 'files');
    await runNix(['copy', '--to', `file://${files}?compression=zstd`, top], { env }, 'Preparing the raw upload');
    const keys = listFiles(files);
    const rawBytes = keys.reduce((n, k) => n + fs.statSync(path.join(files, k)).size, 0);
    const raw = await startS3('raw');
    cleanups.push(() => raw.stop());
    let t = performance.now();
    const bucket = await Bucket.open({ cache: raw.cache(), credentials: raw.credentials });
    cleanups.push(() => bucket.destroy());
    await bucket.head('warm-up');
    const sdkLoadSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    await mapLimit(keys, UPLOADS, async (k) => bucket.put(k, await fs.promises.readFile(path.join(files, k)), 'application/octet-stream'));
    const rawSeconds = (performance.now() - t) / 1000;

    // Cold push into an empty bucket: sign, closure, lookups, compression and upload.
    const s3 = await startS3('cold');
    cleanups.push(() => s3.stop());
    const opts: PushOptions = { cache: s3.cache({ signingKeyFile: key.secretKeyFile }), credentials: s3.credentials, nix: { env }, uploadConcurrency: UPLOADS };
    t = performance.now();
    const cold = await push([top], opts);
    const coldSeconds = (performance.now() - t) / 1000;

    // Warm re-push: everything is there already.
    const before = s3.requests.length;
    t = performance.now();
    const warm = await push([top], opts);
    const warmSeconds = (performance.now() - t) / 1000;
    const warmWrites = s3.requests.slice(before).filter((q) => q.method === 'PUT' || q.method === 'POST').length;

    return {
      closurePaths: closure.length,
      narMiB: round(narBytes / MiB),
      uploadedMiB: round(cold.uploadedBytes / MiB),
      rawMiB: round(rawBytes / MiB),
      coldPushSeconds: round(coldSeconds),
      rawPutSeconds: round(rawSeconds),
      coldVsRawTimeRatio: round(coldSeconds / rawSeconds),
      coldPushMiBps: round(cold.uploadedBytes / MiB / coldSeconds),
      rawPutMiBps: round(rawBytes / MiB / rawSeconds),
      sdkLoadSeconds: round(sdkLoadSeconds),
      warmPushSeconds: round(warmSeconds),
      warmPushBytes: warm.uploadedBytes,
      warmPushWrites: warmWrites,
      warmVsColdTimeRatio: round(warmSeconds / coldSeconds),
      warmVsColdBytesRatio: round(warm.uploadedBytes / cold.uploadedBytes),
    };
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}

function listFiles(dir: string, prefix = ''): string[] {
  return fs.readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(dir, path.posix.join(prefix, e.name)) : [path.posix.join(prefix, e.name)],
  );
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

if (require.main === module) {
  benchPush().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
