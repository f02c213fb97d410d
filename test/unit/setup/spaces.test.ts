// A cache made for the user on DigitalOcean: the Spaces keys API on the emulator (checked against the spec) and
// CreateBucket on s3rver. The full-access key used to create the bucket is gone afterwards, whatever happened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULTS } from '../../../src/base/settings';
import { bucketProblem, endpointProblem, publicUrlProblem } from '../../../src/setup/cache-form';
import { checkSetup } from '../../../src/setup/checks';
import { createSpacesCache } from '../../../src/setup/spaces';
import { exampleFlake } from '../../../src/setup/walkthrough';
import { s3rverKeys, startS3 } from '../../fixtures/s3';
import type { Emulator } from '../../fixtures/emulator';
import { assertClean, emulator, TOKEN } from '../providers/emu';

/** Keys the emulator makes work on s3rver until deleted, as Spaces keys work on Spaces. */
function pairKeys(emu: Emulator): string[] {
  const revoked: string[] = [];
  const keys = s3rverKeys();
  emu.onSpacesKey({ created: (k) => keys.add(k.access_key, k.secret_key), deleted: (k) => (keys.revoke(k.access_key), revoked.push(k.access_key)) });
  return revoked;
}

test('a Spaces cache: bucket created, a key limited to it returned, the setup key deleted; the checks then pass', async (t) => {
  const emu = await emulator(t);
  const s3 = await startS3('unused');
  t.after(() => s3.stop());
  const revoked = pairKeys(emu);
  const steps: string[] = [];
  const made = await createSpacesCache({
    token: TOKEN,
    apiEndpoint: emu.doUrl,
    region: 'ams3',
    bucket: 'my-thebacknd-cache',
    s3Endpoint: s3.endpoint,
    onStep: (m) => steps.push(m),
  });
  assert.deepEqual(steps, ['Creating a short-lived key to create the bucket', 'Creating the bucket my-thebacknd-cache in ams3', 'Creating a key limited to the bucket']);
  assert.deepEqual(
    [...emu.spacesKeys.values()].map((k) => [k.name, k.grants]),
    [['thebacknd-cache-my-thebacknd-cache', [{ bucket: 'my-thebacknd-cache', permission: 'readwrite' }]]],
    'only the limited key is left',
  );
  const key = [...emu.spacesKeys.values()][0]!;
  assert.deepEqual(made.credentials, { accessKeyId: key.access_key, secretAccessKey: key.secret_key });
  assert.deepEqual(made.cache, {
    endpoint: s3.endpoint,
    bucket: 'my-thebacknd-cache',
    region: 'us-east-1',
    publicUrl: `s3://my-thebacknd-cache?endpoint=127.0.0.1:${s3.port}&scheme=http`,
    private: true,
    forcePathStyle: true,
  });
  assert.ok(
    s3.requests.some((r) => r.method === 'PUT' && /^\/my-thebacknd-cache\/?(\?|$)/.test(r.url)),
    `CreateBucket at the Spaces endpoint: ${JSON.stringify(s3.requests.map((r) => r.method + ' ' + r.url))}`,
  );
  assert.deepEqual(
    emu.requests.filter((r) => r.path.includes('spaces')).map((r) => `${r.method} ${r.status}`),
    ['POST 201', 'POST 201', 'DELETE 204'],
  );
  assert.equal(revoked.length, 1, 'the full-access key was deleted');
  assertClean(emu);

  // The settings it gives are a working cache: a probe is written (private: not read anonymously) and deleted.
  const rs = await checkSetup({
    providerId: 'digitalocean',
    provider: undefined,
    settings: { ...DEFAULTS, cache: { ...DEFAULTS.cache, ...made.cache } },
    credentials: made.credentials,
    needs: { nix: false },
  });
  assert.equal(rs.find((r) => r.id === 'cache')!.status, 'ok', JSON.stringify(rs));
});

test('a taken bucket name or a refused token: a clear error, and no full-access key left behind', async (t) => {
  const emu = await emulator(t, { rejectTokens: ['refused-token-0123456789'] });
  const s3 = await startS3('taken');
  t.after(() => s3.stop());
  pairKeys(emu);
  await assert.rejects(createSpacesCache({ token: TOKEN, apiEndpoint: emu.doUrl, region: 'ams3', bucket: 'taken', s3Endpoint: s3.endpoint }), (err: Error) => {
    assert.match(err.message, /^The bucket name "taken" is taken|^Creating the bucket taken/);
    return true;
  });
  assert.equal(emu.spacesKeys.size, 0, 'the setup key was deleted although the bucket failed');
  await assert.rejects(
    createSpacesCache({ token: 'refused-token-0123456789', apiEndpoint: emu.doUrl, region: 'ams3', bucket: 'fresh', s3Endpoint: s3.endpoint }),
    /DigitalOcean did not accept the token/,
  );
  await assert.rejects(
    createSpacesCache({ token: TOKEN, apiEndpoint: emu.doUrl, region: 'ams3', bucket: 'Bad_Name', s3Endpoint: s3.endpoint }),
    /Bucket "Bad_Name": Use lower-case/,
  );
  assert.equal(emu.spacesKeys.size, 0);
  assertClean(emu);
});

test('the guided cache settings say what a good value looks like', () => {
  assert.equal(bucketProblem('thebacknd-cache-1'), undefined);
  assert.match(bucketProblem('')!, /required/);
  assert.match(bucketProblem('ab')!, /3 to 63/);
  assert.match(bucketProblem('My_Bucket')!, /lower-case/);
  assert.match(bucketProblem('192.168.1.1')!, /IP address/);
  assert.equal(endpointProblem('https://ams3.digitaloceanspaces.com'), undefined);
  assert.equal(endpointProblem('http://127.0.0.1:9000'), undefined);
  assert.match(endpointProblem('http://s3.example.com')!, /https:\/\//);
  assert.match(endpointProblem('ams3.digitaloceanspaces.com')!, /Enter a URL/);
  assert.match(endpointProblem('https://k:s@host')!, /no query, fragment or user name/);
  assert.equal(publicUrlProblem(''), undefined);
  assert.equal(publicUrlProblem('https://cache.example.com'), undefined);
  assert.equal(publicUrlProblem('s3://bucket?endpoint=x'), undefined);
  assert.match(publicUrlProblem('ftp://x')!, /Leave empty/);
});

test("the example flake parses and uses the chosen provider's module", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-example-'));
  try {
    const file = path.join(dir, 'flake.nix');
    fs.writeFileSync(file, exampleFlake('/opt/thebacknd/nix', 'hetzner'));
    execFileSync('nix-instantiate', ['--parse', file], { stdio: 'pipe' });
    const text = fs.readFileSync(file, 'utf8');
    assert.match(text, /inputs\.thebacknd\.url = "path:\/opt\/thebacknd\/nix";/);
    assert.match(text, /thebacknd\.nixosModules\.hetzner \.\/example\.nix/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
