// `push` and `build --push` named the cache's endpoint, bucket and region --endpoint, --bucket and --region before
// #18; they still do, for one release, with a warning that names the --cache-* flag, and push to the same cache as
// the new spelling. Real Nix builds the store paths, a real S3 server (s3rver) receives them; the region shows in
// the requests' signatures. import-image's --bucket is followed as far as a missing image file lets it go.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../../src/cli/main';
import { startS3, type S3Server } from '../../fixtures/s3';
import { tempFlake, type TempFlake } from '../nix/helpers';

let f: TempFlake;
let s3: S3Server;
before(async () => void ([f, s3] = [tempFlake(), await startS3()]));
after(async () => (await s3.stop(), f.cleanup()));

async function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void) => new Writable({ write: (c: Buffer, _e, done) => (add(c.toString()), done()) });
  const code = await main(args, { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)), env, interactive: false });
  return { code, stdout, stderr };
}

const warning = (old: string) => `thebacknd: warning: --${old} is deprecated in push: use --cache-${old} (the old spelling goes in the next release).`;

/** The regions the cache requests since `from` were signed for (SigV4's credential scope). */
function signedRegions(from: number): Set<string> {
  return new Set(s3.requests.slice(from).map((r) => /Credential=[^/]+\/\d+\/([^/]+)\/s3\//.exec(String(r.headers.authorization ?? ''))?.[1] ?? 'unsigned'));
}

test('push and build --push: --endpoint, --bucket and --region still name the cache, with a warning naming the new flag', async () => {
  const keyDir = path.join(path.dirname(f.dir), 'keys');
  assert.equal((await run(['keygen', '--name', 'deprecated-1', '--dir', keyDir], f.env)).code, 0);
  const env = {
    ...f.env,
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    THEBACKND_SIGNING_KEY_FILE: path.join(keyDir, 'deprecated-1.sec'),
  };
  const built = await run(['build', `${f.dir}#lib`], env);
  assert.equal(built.code, 0, built.stderr);
  const lib = built.stdout.trim();

  let from = s3.requests.length;
  const old = await run(['push', '--endpoint', s3.endpoint, '--bucket', s3.bucket, '--region', 'eu-old-1', lib], env);
  assert.equal(old.code, 0, old.stderr);
  assert.equal(old.stdout, `${lib}\n`);
  const lines = old.stderr.split('\n');
  for (const name of ['endpoint', 'bucket', 'region']) assert.equal(lines.filter((l) => l === warning(name)).length, 1, `one warning for --${name}: ${old.stderr}`);
  assert.match(old.stderr, /^pushed 2 of 2 paths /m);
  assert.ok(
    s3.created.some((o) => o.key === `${path.basename(lib).slice(0, 32)}.narinfo`),
    'the narinfo is in the bucket',
  );
  assert.deepEqual(signedRegions(from), new Set(['eu-old-1']));

  // The new spelling: the same cache, no warning.
  from = s3.requests.length;
  const now = await run(['push', '--cache-endpoint', s3.endpoint, '--cache-bucket', s3.bucket, '--cache-region', 'eu-new-1', lib], env);
  assert.equal(now.code, 0, now.stderr);
  assert.ok(!now.stderr.includes('deprecated'), now.stderr);
  assert.match(now.stderr, /^pushed 0 of 2 paths .* 2 already in the cache/m);
  assert.deepEqual(signedRegions(from), new Set(['eu-new-1']));

  // build --push took them too.
  from = s3.requests.length;
  const again = await run(['build', '--push', `${f.dir}#lib`, '--endpoint', s3.endpoint, '--bucket', s3.bucket, '--region', 'eu-old-2'], env);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, `${lib}\n`);
  for (const name of ['endpoint', 'bucket', 'region']) assert.ok(again.stderr.includes(warning(name).replace('in push', 'in build')), again.stderr);
  assert.match(again.stderr, /^pushed 0 of 2 paths .* 2 already in the cache/m);
  assert.deepEqual(signedRegions(from), new Set(['eu-old-2']));

  // --endpoint with --provider is the cloud's API, as in every command: push still refuses it.
  const cloud = await run(['push', '-p', 'hetzner', '--endpoint', s3.endpoint, lib], env);
  assert.equal(cloud.code, 2);
  assert.match(cloud.stderr, /^thebacknd: --provider, --endpoint: push talks to no cloud API/);
});

test('import-image: --bucket is --cache-bucket with a warning, and otherwise the same', async () => {
  const env = { DIGITALOCEAN_ACCESS_TOKEN: 'import-token-0123456789', AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'secret-0123456789', THEBACKND_CACHE_ENDPOINT: s3.endpoint };
  const missing = path.join(path.dirname(f.dir), 'no-such-image.qcow2.gz');
  const args = ['import-image', '-p', 'digitalocean', '--file', missing];
  const old = await run([...args, '--bucket', 'images'], env);
  const now = await run([...args, '--cache-bucket', 'images'], env);
  assert.equal(now.code, 1, now.stderr);
  // Past the cache's settings (without a bucket it stops at "No cache bucket is set"), at the missing file.
  assert.equal(now.stderr, `thebacknd: No image at ${missing}: build it first (nix build ./nix#digitalocean-image).\n`);
  const [first, ...rest] = old.stderr.split('\n');
  assert.equal(first, 'thebacknd: warning: --bucket is deprecated in import-image: use --cache-bucket (the old spelling goes in the next release).');
  assert.deepEqual([old.code, old.stdout, rest.join('\n')], [now.code, now.stdout, now.stderr]);
});
