// The CLI subcommands as a script sees them: stdout carries only the result, stderr the log, exit codes mean something.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { CliIo } from '../../../src/cli/context';
import { main } from '../../../src/cli/main';
import { isStorePath } from '../../../src/nix/storePath';
import { startS3, type S3Server } from '../../fixtures/s3';
import { tempFlake, type TempFlake } from './helpers';

let f: TempFlake;
let s3: S3Server;
before(async () => {
  f = tempFlake();
  s3 = await startS3();
});
after(async () => {
  await s3.stop();
  f.cleanup();
});

// Through main, as the command line runs them.
const buildCommand = (argv: string[], c: CliIo): Promise<number> => main(['build', ...argv], c);
const pushCommand = (argv: string[], c: CliIo): Promise<number> => main(['push', ...argv], c);
const keygenCommand = (argv: string[], c: CliIo): Promise<number> => main(['keygen', ...argv], c);

function io(env: NodeJS.ProcessEnv, signal?: AbortSignal): CliIo & { out(): string; err(): string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  stdout.on('data', (b: Buffer) => o.push(b));
  stderr.on('data', (b: Buffer) => e.push(b));
  return { stdout, stderr, env, signal, interactive: false, out: () => Buffer.concat(o).toString(), err: () => Buffer.concat(e).toString() };
}

test('keygen prints the public key on stdout and writes a 0600 secret', async () => {
  const dir = path.join(path.dirname(f.dir), 'cli-keys');
  const c = io(f.env);
  assert.equal(await keygenCommand(['--name', 'cli-test-1', '--dir', dir], c), 0, c.err());
  assert.match(c.out(), /^cli-test-1:[A-Za-z0-9+/]{43}=\n$/);
  assert.equal(fs.statSync(path.join(dir, 'cli-test-1.sec')).mode & 0o777, 0o600);
  const again = io(f.env);
  assert.equal(await keygenCommand(['--name', 'cli-test-1', '--dir', dir], again), 1);
  assert.match(again.err(), /^thebacknd: .*cli-test-1\.sec already exists/);
});

test('build prints only the store path on stdout, the log on stderr', async () => {
  const c = io(f.env);
  assert.equal(await buildCommand(['small', '--flake', f.dir], c), 0, c.err());
  const out = c.out().trim();
  assert.ok(isStorePath(out), out);
  assert.match(out, /-thebacknd-test-app$/);
  assert.match(c.err(), /^building .*#nixosConfigurations\.small\.config\.system\.build\.toplevel$/m);
});

test('build errors are one readable line plus the lines that matter, exit code 1', async () => {
  const c = io(f.env);
  assert.equal(await buildCommand([`${f.dir}#broken`], c), 1);
  assert.equal(c.out(), '');
  assert.match(c.err(), /^thebacknd: Building .*#broken failed: thebacknd test: deliberate evaluation error$/m);
  const none = io(f.env);
  assert.equal(await buildCommand(['--flake', path.dirname(f.dir)], none), 2);
  assert.match(none.err(), /no flake\.nix in/);
  const bad = io(f.env);
  assert.equal(await buildCommand(['--frobnicate'], bad), 2);
  assert.match(bad.err(), /Unknown option '--frobnicate'/);
});

test('push reads the cache from THEBACKND_* and AWS_* variables', async () => {
  const keyDir = path.join(path.dirname(f.dir), 'push-keys');
  const k = io(f.env);
  assert.equal(await keygenCommand(['--name', 'cli-push-1', '--dir', keyDir], k), 0, k.err());
  const b = io(f.env);
  assert.equal(await buildCommand([`${f.dir}#lib`], b), 0, b.err());
  const lib = b.out().trim();

  const env = {
    ...f.env,
    THEBACKND_CACHE_ENDPOINT: s3.endpoint,
    THEBACKND_CACHE_BUCKET: s3.bucket,
    THEBACKND_CACHE_REGION: 'us-east-1',
    THEBACKND_SIGNING_KEY_FILE: path.join(keyDir, 'cli-push-1.sec'),
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
  };
  const c = io(env);
  assert.equal(await pushCommand([lib], c), 0, c.err());
  assert.equal(c.out(), `${lib}\n`);
  assert.match(c.err(), /^pushed 2 of 2 paths \(.* MiB sent; 0 already in the cache\)/m);
  assert.ok(s3.created.some((o) => o.key === `${path.basename(lib).slice(0, 32)}.narinfo`));

  // The binary inside a store path names that store path.
  const c2 = io(env);
  assert.equal(await pushCommand([`${lib}/lib/ref`], c2), 0, c2.err());
  assert.match(c2.err(), /^pushed 0 of 2 paths .* 2 already in the cache/m);

  const noCreds = io({ ...env, AWS_SECRET_ACCESS_KEY: '' });
  assert.equal(await pushCommand([lib], noCreds), 1);
  assert.match(noCreds.err(), /^thebacknd: Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/m);

  const notPath = io(env);
  assert.equal(await pushCommand(['./result'], notPath), 1);
  assert.match(notPath.err(), /"\.\/result" is not a Nix store path/);

  const usage = io(env);
  assert.equal(await pushCommand([], usage), 2);
  assert.match(usage.err(), /which store path\?/);
});

test('a cancelled push exits 130 and says how to resume', async () => {
  const ctl = new AbortController();
  ctl.abort();
  const c = io(
    {
      ...f.env,
      THEBACKND_CACHE_ENDPOINT: s3.endpoint,
      THEBACKND_CACHE_BUCKET: s3.bucket,
      AWS_ACCESS_KEY_ID: 'a',
      AWS_SECRET_ACCESS_KEY: 'b',
      THEBACKND_SIGNING_KEY_FILE: path.join(path.dirname(f.dir), 'cli-keys', 'cli-test-1.sec'),
    },
    ctl.signal,
  );
  const b = io(f.env);
  await buildCommand([`${f.dir}#base`], b);
  assert.equal(await pushCommand([b.out().trim()], c), 130);
  assert.match(c.err(), /cancelled\. Run the same command again to resume\./);
});
