// Import Base Image for DigitalOcean against the emulator, which downloads the presigned link from a real S3
// server (s3rver) as DigitalOcean would.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { IMAGE_COMMANDS } from '../../../src/cli/image';
import { main } from '../../../src/cli/main';
import { UserError } from '../../../src/base/errors';
import { dotsImageApi, importDigitalOceanImage, type ImportProgress } from '../../../src/image/digitalocean';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { startS3, type S3Server } from '../../fixtures/s3';

let emu: Emulator;
let s3: S3Server;
let dir: string;
let imageFile: string;
const size = 12 * 1024 * 1024 + 123;

before(async () => {
  emu = await startEmulator({ delays: { actionMs: 100 }, rejectTokens: ['bad-token'] });
  s3 = await startS3('cache');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-image-'));
  fs.mkdirSync(path.join(dir, 'result'));
  imageFile = path.join(dir, 'result', 'nixos.qcow2.gz');
  fs.writeFileSync(imageFile, crypto.randomBytes(size));
});

after(async () => {
  await emu?.close();
  await s3?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the image is uploaded, imported from a presigned link, becomes available, and the upload is removed', async () => {
  const progress: ImportProgress[] = [];
  const res = await importDigitalOceanImage({
    image: path.join(dir, 'result'),
    name: 'thebacknd-base-test',
    region: 'ams3',
    api: dotsImageApi('test-token', emu.doUrl),
    cache: s3.cache(),
    credentials: s3.credentials,
    partSize: 5 * 1024 * 1024,
    pollIntervalMs: 50,
    onProgress: (p) => progress.push(p),
  });
  const image = emu.state.doImages.get(Number(res.imageId));
  assert.ok(image, 'the emulator has the image');
  assert.equal(image.status, 'available');
  assert.deepEqual(image.regions, ['ams3']);
  assert.deepEqual(image.tags, ['thebacknd']);
  // DigitalOcean (the emulator) fetched the object through a signed, expiring link, and got every byte.
  const fetched = s3.requests.filter((r) => r.method === 'GET' && r.url.startsWith('/cache/images/thebacknd-base-test.qcow2.gz?'));
  assert.equal(fetched.length, 1);
  assert.match(fetched[0]!.url, /X-Amz-Signature=[0-9a-f]{64}/);
  assert.match(fetched[0]!.url, /X-Amz-Expires=\d+/);
  assert.equal(image.size_gigabytes, Math.max(0.01, Math.round((size / 1e9) * 100) / 100));
  // Multipart upload (12 MiB in 5 MiB parts), progress to the last byte, then the import phases.
  assert.ok(
    s3.requests.some((r) => r.method === 'POST' && r.url.includes('?uploads')),
    'multipart upload',
  );
  const uploads = progress.filter((p) => p.phase === 'upload');
  assert.equal(uploads[uploads.length - 1]?.sent, size);
  assert.deepEqual(
    progress
      .filter((p) => p.phase !== 'upload')
      .map((p) => p.status)
      .pop(),
    'available',
  );
  const left = s3.requests.filter((r) => r.method === 'DELETE' && r.url.startsWith('/cache/images/thebacknd-base-test.qcow2.gz'));
  assert.equal(left.length, 1, 'the uploaded image is deleted from the bucket once imported');
  assert.deepEqual(emu.violations, []);
});

test('a rejected token and a bad region are explained', async () => {
  const base = {
    image: imageFile,
    name: 'thebacknd-base-refused',
    cache: s3.cache(),
    credentials: s3.credentials,
    pollIntervalMs: 50,
  };
  await assert.rejects(
    importDigitalOceanImage({ ...base, region: 'ams3', api: dotsImageApi('bad-token', emu.doUrl) }),
    (e: unknown) => e instanceof UserError && /rejected the API token/.test(e.message) && e.fix?.kind === 'setToken',
  );
  await assert.rejects(
    importDigitalOceanImage({ ...base, region: 'atlantis1', api: dotsImageApi('test-token', emu.doUrl) }),
    (e: unknown) => e instanceof UserError && /refused the image import \(HTTP 422\): .*region/i.test(e.message),
  );
});

test('a missing or wrong image file is refused before anything is uploaded', async () => {
  const before = s3.requests.length;
  const base = { name: 'x', region: 'ams3', api: dotsImageApi('test-token', emu.doUrl), cache: s3.cache(), credentials: s3.credentials };
  await assert.rejects(importDigitalOceanImage({ ...base, image: path.join(dir, 'nope') }), /No image at .*build it first/);
  const raw = path.join(dir, 'nixos.img.zst');
  fs.writeFileSync(raw, 'x');
  await assert.rejects(importDigitalOceanImage({ ...base, image: raw }), /is not a DigitalOcean image/);
  assert.equal(s3.requests.length, before);
});

test('thebacknd import-image --provider digitalocean uploads, imports and prints the image id', async () => {
  let out = '';
  let err = '';
  const sink = (add: (s: string) => void) => new Writable({ write: (chunk: Buffer, _enc, done) => (add(chunk.toString()), done()) });
  const env = {
    DIGITALOCEAN_ACCESS_TOKEN: 'test-token-digitalocean',
    THEBACKND_DO_ENDPOINT: emu.doUrl,
    THEBACKND_CACHE_ENDPOINT: s3.endpoint,
    THEBACKND_CACHE_BUCKET: s3.bucket,
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
  };
  const code = await main(
    ['import-image', '--provider', 'digitalocean', '--file', path.join(dir, 'result'), '--name', 'thebacknd-base-cli', '--region', 'nyc3'],
    { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env, interactive: false },
    IMAGE_COMMANDS,
  );
  assert.equal(code, 0, err);
  const image = emu.state.doImages.get(Number(out.trim()));
  assert.ok(image, `stdout is the image id: ${out}`);
  assert.equal(image.name, 'thebacknd-base-cli');
  assert.equal(image.status, 'available');
  assert.deepEqual(image.regions, ['nyc3']);
  assert.match(err, /uploading to the cache bucket/);
  assert.match(err, new RegExp(`custom image ${image.id} \\(thebacknd-base-cli\\) is available in nyc3`));

  // Without the cache credentials nothing is uploaded, and the user is told what to set.
  const before = s3.requests.length;
  err = '';
  const missing = await main(
    ['import-image', '-p', 'digitalocean', '-f', imageFile],
    { stdout: sink(() => undefined), stderr: sink((s) => (err += s)), env: { ...env, AWS_SECRET_ACCESS_KEY: undefined }, interactive: false },
    IMAGE_COMMANDS,
  );
  assert.equal(missing, 1);
  assert.match(err, /Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  assert.equal(s3.requests.length, before);
});
