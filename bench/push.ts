// Push benchmark against a real S3 server (s3rver on 127.0.0.1, in a process of its own), in one run, for one closure:
// - cold push (sign, closure, lookups, Nix compression, uploads) vs raw PutObject of the very same files, with the
//   CPU time each took (this process, the Nix processes it ran, the S3 server): on loopback the three share the
//   machine's cores, so the CPU the push needs bounds how close to the raw PUTs it can get;
// - with `link`, both again through a modelled uplink (bench/link.ts), where the question is whether the push keeps
//   the link busy as the raw PUTs do;
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
import { DEFAULTS } from '../src/base/settings';
import { Bucket } from '../src/nix/s3';
import { mapLimit } from '../src/nix/pool';
import { generateSigningKey } from '../src/nix/sign';
import { startLink } from './link';
import { startS3Process, type RemoteS3 } from './s3-process';

const ROOT = path.resolve(__dirname, '..', '..');
const MiB = 1024 * 1024;
const UPLOADS = 4;
/** Files under 256 KiB go up this many at a time, in the push as in the raw baseline. */
const SMALL_UPLOADS = 16;
const SMALL = 256 * 1024;
/** Debian's awscli, ahead of any other aws on PATH. */
const AWS = fs.existsSync('/usr/bin/aws') ? '/usr/bin/aws' : 'aws';

export type PushClosure = 'bench' | 'bench-small';

/** A modelled uplink: megabits per second and round-trip milliseconds. */
export interface LinkModel {
  mbit: number;
  rttMs: number;
}

/** CPU seconds used so far by this process, by the children it has reaped (the Nix runs), and by the S3 server. */
function cpuNow(s3: RemoteS3): { self: number; nix: number; server: number } {
  const u = process.cpuUsage();
  const ticks = (pid: number | 'self', from: number) => {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[from]) + Number(f[from + 1])) / 100; // clock ticks, 100 per second on Linux
  };
  return { self: (u.user + u.system) / 1e6, nix: ticks('self', 13), server: ticks(s3.pid, 11) };
}

function cpuSince(s3: RemoteS3, before: ReturnType<typeof cpuNow>): number {
  const now = cpuNow(s3);
  return now.self - before.self + (now.nix - before.nix) + (now.server - before.server);
}

/**
 * A fresh S3 server that has already stored and deleted a few large and small objects: a real bucket's server is
 * warm, and a cold one (its JIT, its first writes) made the first uploads of every sample slower by a varying amount.
 */
async function warmS3(name: string): Promise<RemoteS3> {
  const s3 = await startS3Process(name);
  const b = await Bucket.open({ cache: s3.cache(), credentials: s3.credentials });
  try {
    const big = Buffer.alloc(8 * MiB, 1);
    const keys = [...Array(4).keys()].map((i) => `warm-up/big-${i}`);
    const small = [...Array(32).keys()].map((i) => `warm-up/small-${i}`);
    await Promise.all([...keys.map((k) => b.put(k, big, 'application/octet-stream')), ...small.map((k) => b.put(k, `warm-up ${k}`, 'text/plain'))]);
    // One at a time: s3rver removes a folder left empty by a delete, and concurrent deletes in it race on that.
    for (const k of [...keys, ...small]) await b.delete(k);
  } finally {
    b.destroy();
  }
  return s3;
}

export async function benchPush(fixture: PushClosure = 'bench', link?: LinkModel): Promise<Record<string, number>> {
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
    const small = keys.filter((k) => fs.statSync(path.join(files, k)).size < SMALL);
    /** Seconds to PUT every file into a fresh bucket (through `link` when given), and the CPU seconds that took. */
    const rawPut = async (via?: LinkModel) => {
      const raw = await warmS3('raw');
      const proxy = via ? await startLink(raw.endpoint, via.mbit, via.rttMs) : undefined;
      const bucket = await Bucket.open({ cache: raw.cache(proxy ? { endpoint: proxy.endpoint } : {}), credentials: raw.credentials });
      try {
        await bucket.head('warm-up');
        const cpu = cpuNow(raw);
        const started = performance.now();
        const put = async (k: string) => bucket.put(k, await fs.promises.readFile(path.join(files, k)), 'application/octet-stream');
        await Promise.all([
          mapLimit(
            keys.filter((k) => !small.includes(k)),
            UPLOADS,
            put,
          ),
          mapLimit(small, SMALL_UPLOADS, put),
        ]);
        return { seconds: (performance.now() - started) / 1000, cpu: cpuSince(raw, cpu) };
      } finally {
        bucket.destroy();
        await proxy?.close();
        await raw.stop();
      }
    };
    let t = performance.now();
    const sdk = await Bucket.open({ cache: { ...DEFAULTS.cache, endpoint: 'http://127.0.0.1:9', bucket: 'sdk-load' }, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    sdk.destroy();
    const sdkLoadSeconds = (performance.now() - t) / 1000;
    const { seconds: rawSeconds, cpu: rawCpu } = await rawPut();

    // Cold push into an empty bucket: sign, closure, lookups, compression and upload.
    const s3 = await warmS3('cold');
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
    const coldCpuBefore = cpuNow(s3);
    t = performance.now();
    const cold = await push([top], {
      ...opts,
      onProgress: (p) => {
        if (p.pathsCompressed === 1 && !firstStaged) firstStaged = performance.now() - t;
        if (p.pathsCompressed === p.pathsMissing && p.pathsMissing > 0 && !lastStaged) lastStaged = performance.now() - t;
      },
    });
    const coldSeconds = (performance.now() - t) / 1000;
    const coldCpu = cpuSince(s3, coldCpuBefore);

    // Warm re-push: everything is there already.
    const before = (await s3.requests()).length;
    t = performance.now();
    const warm = await push([top], opts);
    const warmSeconds = (performance.now() - t) / 1000;
    const warmRequests = (await s3.requests()).slice(before);
    const warmWrites = warmRequests.filter((q) => q.method === 'PUT' || q.method === 'POST').length;

    // The usual way: Nix writes a file:// cache (signing with the same key), the AWS CLI syncs it to the bucket.
    const viaCli = await warmS3('cli');
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

    // Through the modelled link: raw PUTs, then a cold push into a fresh bucket, the same way as above.
    const linked: Record<string, number> = {};
    if (link) {
      const rawLink = await rawPut(link);
      const s3Link = await warmS3('cold-link');
      const proxy = await startLink(s3Link.endpoint, link.mbit, link.rttMs);
      try {
        t = performance.now();
        await push([top], { ...opts, cache: s3Link.cache({ signingKeyFile: key.secretKeyFile, endpoint: proxy.endpoint }), credentials: s3Link.credentials });
        linked.linkColdPushSeconds = round((performance.now() - t) / 1000);
        linked.linkRawPutSeconds = round(rawLink.seconds);
      } finally {
        await proxy.close();
        await s3Link.stop();
      }
    }

    const cores = os.availableParallelism();
    return {
      ...linked,
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
      rawCpuSeconds: round(rawCpu),
      coldCpuSeconds: round(coldCpu),
      // The cold push cannot take less than its CPU time spread over every core: the raw PUTs' time over that is
      // the highest throughput share this machine allows, however the push's work is scheduled.
      coldBestShare: round(rawSeconds / (coldCpu / cores)),
      cores,
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
  const mbit = Number(process.argv[3]);
  benchPush((process.argv[2] as PushClosure | undefined) ?? 'bench', mbit > 0 ? { mbit, rttMs: Number(process.argv[4] ?? 20) } : undefined).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
