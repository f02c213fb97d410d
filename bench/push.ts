// Push benchmark against a real S3 server (s3rver on 127.0.0.1, in a process of its own), in one run, for one closure:
// - cold push (sign, closure, lookups, Nix compression, uploads) vs raw PutObject of the very same files;
// - warm re-push of the same closure: its time, the bytes it sends and how it looked the closure up;
// - the same cold and warm pushes done the usual way: `nix copy --to file://` then `aws s3 sync` (the AWS CLI).
// Closures: test/fixtures/flakes/bench ("few large": 6 × ~8 MiB of half random, half base64 data plus two small
// paths) and test/fixtures/flakes/bench-small ("many small": 500 small text files and a toplevel).

import { spawn } from 'node:child_process';
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
import { startS3Process } from './s3-process';

const ROOT = path.resolve(__dirname, '..', '..');
const MiB = 1024 * 1024;
const UPLOADS = 4;
/** Files under 256 KiB go up this many at a time, in the push as in the raw baseline. */
const SMALL_UPLOADS = 16;
const SMALL = 256 * 1024;
/** Debian's awscli, ahead of any other aws on PATH. */
const AWS = fs.existsSync('/usr/bin/aws') ? '/usr/bin/aws' : 'aws';

export type PushClosure = 'bench' | 'bench-small';

export async function benchPush(fixture: PushClosure = 'bench'): Promise<Record<string, number>> {
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
    fs.cpSync(path.join(ROOT, 'test/fixtures/flakes', fixture), flake, { recursive: true });
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
    const raw = await startS3Process('raw');
    cleanups.push(() => raw.stop());
    let t = performance.now();
    const bucket = await Bucket.open({ cache: raw.cache(), credentials: raw.credentials });
    cleanups.push(() => bucket.destroy());
    await bucket.head('warm-up');
    const sdkLoadSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const put = async (k: string) => bucket.put(k, await fs.promises.readFile(path.join(files, k)), 'application/octet-stream');
    const small = keys.filter((k) => fs.statSync(path.join(files, k)).size < SMALL);
    await Promise.all([
      mapLimit(
        keys.filter((k) => !small.includes(k)),
        UPLOADS,
        put,
      ),
      mapLimit(small, SMALL_UPLOADS, put),
    ]);
    const rawSeconds = (performance.now() - t) / 1000;

    // Cold push into an empty bucket: sign, closure, lookups, compression and upload.
    const s3 = await startS3Process('cold');
    cleanups.push(() => s3.stop());
    const opts: PushOptions = {
      cache: s3.cache({ signingKeyFile: key.secretKeyFile }),
      credentials: s3.credentials,
      nix: { env },
      uploadConcurrency: UPLOADS,
      smallUploadConcurrency: SMALL_UPLOADS,
    };
    // Where the cold push's time goes: when Nix handed on the first and the last staged NAR (compression and
    // signing overlap the uploads in between), and the upload tail after the last one.
    let firstStaged = 0;
    let lastStaged = 0;
    t = performance.now();
    const cold = await push([top], {
      ...opts,
      onProgress: (p) => {
        if (p.pathsCompressed === 1 && !firstStaged) firstStaged = performance.now() - t;
        if (p.pathsCompressed === p.pathsMissing && p.pathsMissing > 0 && !lastStaged) lastStaged = performance.now() - t;
      },
    });
    const coldSeconds = (performance.now() - t) / 1000;

    // Warm re-push: everything is there already.
    const before = (await s3.requests()).length;
    t = performance.now();
    const warm = await push([top], opts);
    const warmSeconds = (performance.now() - t) / 1000;
    const warmRequests = (await s3.requests()).slice(before);
    const warmWrites = warmRequests.filter((q) => q.method === 'PUT' || q.method === 'POST').length;

    // The usual way: Nix writes a file:// cache (signing with the same key), the AWS CLI syncs it to the bucket.
    const viaCli = await startS3Process('cli');
    cleanups.push(() => viaCli.stop());
    const staging = path.join(tmp, 'cli-staging');
    const copyAndSync = async () => {
      const started = performance.now();
      await runNix(['copy', '--to', `file://${staging}?compression=zstd&secret-key=${key.secretKeyFile}`, top], { env }, 'nix copy --to file://');
      await awsSync(staging, viaCli.endpoint, 'cli', viaCli.credentials);
      return (performance.now() - started) / 1000;
    };
    const cliColdSeconds = await copyAndSync();
    const cliWarmSeconds = await copyAndSync();

    return {
      closurePaths: closure.length,
      narMiB: round(narBytes / MiB),
      uploadedMiB: round(cold.uploadedBytes / MiB),
      rawMiB: round(rawBytes / MiB),
      coldPushSeconds: round(coldSeconds),
      rawPutSeconds: round(rawSeconds),
      coldVsRawTimeRatio: round(coldSeconds / rawSeconds),
      coldPushMiBps: round(cold.uploadedBytes / MiB / coldSeconds),
      coldFirstStagedSeconds: round(firstStaged / 1000),
      coldLastStagedSeconds: round(lastStaged / 1000),
      coldTailSeconds: round(coldSeconds - lastStaged / 1000),
      rawPutMiBps: round(rawBytes / MiB / rawSeconds),
      sdkLoadSeconds: round(sdkLoadSeconds),
      warmPushSeconds: round(warmSeconds),
      warmPushBytes: warm.uploadedBytes,
      warmPushWrites: warmWrites,
      warmVsColdTimeRatio: round(warmSeconds / coldSeconds),
      warmVsColdBytesRatio: round(warm.uploadedBytes / cold.uploadedBytes),
      warmPushRequests: warmRequests.length,
      warmPushListings: warmRequests.filter((q) => q.method === 'GET' && /[?&]list-type=2|[?&]delimiter=/.test(q.url ?? '')).length,
      cliColdSeconds: round(cliColdSeconds),
      cliWarmSeconds: round(cliWarmSeconds),
    };
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}

/** `aws s3 sync` of a folder into the bucket, as a user would run it (Debian's awscli). */
function awsSync(dir: string, endpoint: string, bucket: string, c: { accessKeyId: string; secretAccessKey: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(AWS, ['--endpoint-url', endpoint, 's3', 'sync', '--only-show-errors', dir, `s3://${bucket}/`], {
      env: { ...process.env, AWS_ACCESS_KEY_ID: c.accessKeyId, AWS_SECRET_ACCESS_KEY: c.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new Error(`needs the AWS CLI (apt-get install awscli): ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`aws s3 sync exited ${code}: ${err.trim().split('\n')[0]}`))));
  });
}

function listFiles(dir: string, prefix = ''): string[] {
  return fs
    .readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(dir, path.posix.join(prefix, e.name)) : [path.posix.join(prefix, e.name)]));
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

if (require.main === module) {
  benchPush((process.argv[2] as PushClosure | undefined) ?? 'bench').then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
