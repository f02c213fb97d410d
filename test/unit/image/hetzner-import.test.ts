// Import Base Image for Hetzner against the emulator, through the rescue system of a real test host: a temporary
// server boots "rescue" (a fresh sshd that accepts only the key given to enable_rescue), the image is written to
// its disk over SSH, create_image copies that disk, and the server and the key are deleted whatever happens.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { main } from '../../../src/cli/main';
import { IMAGE_COMMANDS } from '../../../src/cli/image';
import { isAbort, UserError } from '../../../src/base/errors';
import { createProvider } from '../../../src/providers';
import { importImage, type ImportImageRequest, type ImportStatus } from '../../../src/image';
import { sshFingerprint, writeScript } from '../../../src/image/rescue-ssh';
import { HetznerImageApi } from '../../../src/image/hetzner-api';
import { importHetznerImage } from '../../../src/image/hetzner';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { until } from '../../fixtures/wait';
import { hetznerImportRequest } from './hetzner-request';
import { RESCUE_DISK, rescueHostHook, type RescueHostHook } from '../../fixtures/testhost/rescue';

let emu: Emulator;
let hook: RescueHostHook;
let dir: string;
let raw: Buffer;
const SEED_KEYS = ['thebacknd-test'];

before(async () => {
  emu = await startEmulator({ rejectTokens: ['bad-token-rejected-1234'], delays: { hetznerStartingMs: 50, hetznerRunningMs: 50, actionMs: 100, deleteMs: 50 } });
  hook = rescueHostHook();
  emu.setHostHook(hook);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-hz-image-'));
  fs.mkdirSync(path.join(dir, 'result'));
  // A disk image: some structure and some noise, so that a shifted or truncated write cannot pass.
  raw = Buffer.concat([Buffer.from('\x55\xaa thebacknd test disk\n'), crypto.randomBytes(5 * 1024 * 1024 + 321), Buffer.alloc(1024 * 1024)]);
  fs.writeFileSync(path.join(dir, 'nixos.img'), raw);
  execFileSync('zstd', ['-q', '-19', path.join(dir, 'nixos.img'), '-o', path.join(dir, 'result', 'nixos.img.zst')]);
});

after(async () => {
  await hook?.closeAll();
  await emu?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function request(extra: Partial<ImportImageRequest> = {}): ImportImageRequest {
  return hetznerImportRequest(emu, { file: path.join(dir, 'result'), name: 'thebacknd-base-test', ...extra });
}

async function sshKeyNames(): Promise<string[]> {
  const res = await fetch(`${emu.hetznerUrl}/ssh_keys`, { headers: { Authorization: 'Bearer test-token' } });
  return ((await res.json()) as { ssh_keys: { name: string }[] }).ssh_keys.map((k) => k.name);
}

/** Nothing of an import is left: no server, no host, no import key. */
async function assertCleanedUp(): Promise<void> {
  await until('the temporary server deleted', () => (emu.state.servers.size === 0 ? true : undefined));
  await until('its test host removed', () => (hook.hosts.size === 0 ? true : undefined));
  assert.deepEqual(await sshKeyNames(), SEED_KEYS, 'the import key is deleted');
}

test('the image is written to the disk of a temporary server in rescue mode and snapshotted; the server and key are deleted', async () => {
  const statuses: ImportStatus[] = [];
  const log: string[] = [];
  const imagesBefore = new Set(emu.state.hetznerImages.keys());
  const res = await importImage(request({ onStatus: (s) => statuses.push(s), log: (l) => log.push(l) }));

  // The snapshot: listed by the API under the returned id, labelled, made from the disk the image was written to.
  const image = emu.state.hetznerImages.get(Number(res.imageId));
  assert.ok(image && !imagesBefore.has(image.id), 'a new image with the returned id');
  assert.equal(image.type, 'snapshot');
  assert.equal(image.status, 'available');
  assert.equal(image.description, 'thebacknd-base-test');
  assert.equal(image.labels['thebacknd-image'], 'thebacknd-base-test');
  const snapshot = hook.snapshots.get(image.id);
  assert.ok(snapshot, 'create_image copied the disk');
  assert.ok(fs.readFileSync(snapshot).equals(raw), 'the disk holds exactly the decompressed image');
  // What a user then picks from: the provider's image list has it as a snapshot.
  const listed = await createProvider('hetzner', { token: 'test-token', endpoint: emu.hetznerUrl }).images();
  assert.deepEqual(
    listed.find((i) => i.id === res.imageId),
    { id: res.imageId, name: 'thebacknd-base-test', kind: 'snapshot', status: 'available' },
  );
  assert.equal(res.setting, 'thebacknd.hetzner.image');
  assert.match(res.summary, new RegExp(`snapshot ${res.imageId} .*at least 40 GB`));
  assert.deepEqual(res.warnings, []);

  // The temporary server was a tagged machine with a deadline, booted into rescue with the import key only.
  const create = emu.requests.find((r) => r.method === 'POST' && r.path === '/v1/servers');
  const body = create?.body as { name: string; labels: Record<string, string>; server_type: string; location: string };
  assert.match(body.name, /^thebacknd-\d+$/);
  assert.equal(body.labels.thebacknd, '');
  assert.match(body.labels['thebacknd-deadline'] ?? '', /^\d{8}T\d{6}Z$/);
  assert.deepEqual([body.server_type, body.location], ['cx22', 'fsn1']);
  const keyPost = emu.requests.find((r) => r.method === 'POST' && r.path === '/v1/ssh_keys');
  const keyId = (keyPost?.responseBody as { ssh_key: { id: number } }).ssh_key.id;
  const rescue = emu.requests.find((r) => r.path.endsWith('/actions/enable_rescue'));
  assert.deepEqual(rescue?.body, { type: 'linux64', ssh_keys: [keyId] });
  assert.ok(
    emu.requests.some((r) => r.path.endsWith('/actions/reset') && r.status === 201),
    'reset into the rescue system',
  );

  // The rescue host key could not be known in advance: the one accepted is reported, and it is the host's.
  const [hostKey] = [...hook.rescueHostKeys.values()];
  assert.ok(hostKey);
  assert.equal(res.hostKey, sshFingerprint(Buffer.from(hostKey.split(' ')[1]!, 'base64')));
  assert.ok(
    log.some((l) => l.includes(res.hostKey!) && /accepted on first use/.test(l)),
    log.join('\n'),
  );

  // Progress: every step, in order, the write to its last byte.
  const order = [
    'creating a temporary server',
    'booting',
    'waiting for the rescue system',
    'connected to the rescue system',
    'writing the image',
    'snapshotting',
    'deleting',
    'imported',
  ];
  let at = -1;
  for (const step of order) {
    const i = statuses.findIndex((s, k) => k > at && s.message.startsWith(step));
    assert.ok(i > at, `status "${step}" after the previous ones:\n${statuses.map((s) => s.message).join('\n')}`);
    at = i;
  }
  assert.ok(statuses.some((s) => s.message.startsWith('writing') && s.fraction === 1));

  await assertCleanedUp();
  assert.deepEqual(emu.violations, []);
  assert.deepEqual(emu.errors, []);
});

test('a rescue system that refuses the key fails the import, and the server and key are still deleted', async () => {
  hook.rescueLogin = 'refuse';
  const imagesBefore = emu.state.hetznerImages.size;
  try {
    await assert.rejects(
      importImage(request({ hetzner: { device: RESCUE_DISK, pollIntervalMs: 50, sshTimeoutMs: 4000 } })),
      (e: unknown) => e instanceof UserError && /did not accept the import key within 4 s \(last attempt: the import key was refused\)/.test(e.message),
    );
  } finally {
    hook.rescueLogin = 'accept';
  }
  await assertCleanedUp();
  assert.equal(emu.state.hetznerImages.size, imagesBefore, 'no snapshot was made');
  assert.deepEqual(emu.errors, []);
});

test('a cancelled import deletes the server it made', async () => {
  const ctl = new AbortController();
  await assert.rejects(
    importImage(
      request({
        signal: ctl.signal,
        onStatus: (s) => {
          if (s.message.startsWith('booting')) ctl.abort();
        },
      }),
    ),
    (e: unknown) => isAbort(e),
  );
  await assertCleanedUp();
});

/** An import of a stream (as a build worker relays it) that gives `bytes` of the image, then ends, fails or hangs. */
function streamImport(bytes: number, end: 'end' | 'error' | 'hang') {
  return importHetznerImage({
    image: {
      label: 'worker:nixos.img',
      size: raw.length,
      compressed: false,
      open: () =>
        Readable.from(
          (async function* () {
            yield raw.subarray(0, bytes);
            if (end === 'error') throw new Error('the worker connection dropped');
            if (end === 'hang') await new Promise(() => undefined); // a live relay that sends nothing more
          })(),
        ),
    },
    name: 'thebacknd-base-short',
    location: 'nbg1',
    serverType: 'cx22',
    provider: createProvider('hetzner', { token: 'test-token', endpoint: emu.hetznerUrl, retry: { baseDelayMs: 10, maxDelayMs: 50 } }),
    api: new HetznerImageApi({ token: 'test-token', endpoint: emu.hetznerUrl, retry: { baseDelayMs: 10, maxDelayMs: 50 } }),
    device: RESCUE_DISK,
    pollIntervalMs: 50,
    sshTimeoutMs: 60_000,
    ...(end === 'hang' ? { writeStallMs: 300 } : {}),
  });
}

test('an image stream that ends short of its size, or fails, is not snapshotted: a clear error, and the server is deleted', async () => {
  const imagesBefore = emu.state.hetznerImages.size;
  // Raw, so that the remote dd alone would take the cut image as a whole one.
  await assert.rejects(
    streamImport(4096, 'end'),
    (e: unknown) => e instanceof UserError && /^worker:nixos\.img ended after 4096 of its \d+ bytes; the image was not imported\.$/.test(e.message),
  );
  await assertCleanedUp();
  await assert.rejects(streamImport(4096, 'error'), (e: unknown) => e instanceof UserError && /^Cannot read worker:nixos\.img: the worker connection dropped\.$/.test(e.message));
  await assertCleanedUp();
  assert.equal(emu.state.hetznerImages.size, imagesBefore, 'no snapshot was made');
  assert.deepEqual(emu.errors, []);
});

test('a write that stops making progress fails with a clear error instead of waiting forever, and the server is deleted', { timeout: 60_000 }, async () => {
  const imagesBefore = emu.state.hetznerImages.size;
  await assert.rejects(
    streamImport(4096, 'hang'),
    (e: unknown) =>
      e instanceof UserError &&
      /^Writing the image stalled: nothing went from worker:nixos\.img to the rescue system for 0\.3 s \(4096 of \d+ bytes sent\); the image was not imported\.$/.test(e.message),
  );
  await assertCleanedUp();
  assert.equal(emu.state.hetznerImages.size, imagesBefore, 'no snapshot was made');
});

test('a lost create_image answer is resolved by the run label, not by a second snapshot', async () => {
  emu.fault({ provider: 'hetzner', method: 'POST', path: '/servers/{id}/actions/create_image', kind: 'lost' });
  const imagesBefore = emu.state.hetznerImages.size;
  const res = await importImage(request({ name: 'thebacknd-base-lost' }));
  assert.equal(emu.state.hetznerImages.size, imagesBefore + 1, 'exactly one snapshot');
  const image = emu.state.hetznerImages.get(Number(res.imageId));
  assert.equal(image?.labels['thebacknd-image'], 'thebacknd-base-lost');
  assert.ok(fs.readFileSync(hook.snapshots.get(Number(res.imageId))!).equals(raw));
  await assertCleanedUp();
});

test('a wrong file or name is refused before any server is made; the remote script checks disk and zstd', async () => {
  const before = emu.requests.length;
  const notZstd = path.join(dir, 'fake.img.zst');
  fs.writeFileSync(notZstd, 'not zstd at all');
  await assert.rejects(importImage(request({ file: notZstd })), /fake\.img\.zst is not zstd-compressed/);
  await assert.rejects(importImage(request({ file: path.join(dir, 'nope') })), /No image at .*nix build \.\/nix#hetzner-image/);
  await assert.rejects(importImage(request({ file: path.join(dir, 'result', 'nixos.img.zst'), name: '-bad name' })), /not a valid image name/);
  const qcow = path.join(dir, 'nixos.qcow2.gz');
  fs.writeFileSync(qcow, 'x');
  await assert.rejects(importImage(request({ file: qcow })), /is not a Hetzner disk image/);
  assert.equal(emu.requests.length, before, 'no API request was sent');

  // The script fails with its own exit codes, run here by bash as the rescue system would.
  const script = writeScript(path.join(dir, 'no-such-dir', 'sda'), true);
  const r = (() => {
    try {
      execFileSync('bash', ['-c', script], { input: '', stdio: ['pipe', 'pipe', 'pipe'] });
      return 0;
    } catch (e) {
      return (e as { status: number }).status;
    }
  })();
  assert.equal(r, 90);
});

test('thebacknd import-image --provider hetzner prints the snapshot id; usage and token problems are explained', async () => {
  const run = async (args: string[], env: NodeJS.ProcessEnv) => {
    let out = '';
    let err = '';
    const sink = (add: (s: string) => void) => new Writable({ write: (chunk: Buffer, _enc, done) => (add(chunk.toString()), done()) });
    const code = await main(args, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env, interactive: false }, IMAGE_COMMANDS);
    return { code, out, err };
  };
  const env = { HCLOUD_TOKEN: 'secret-hcloud-token-1234', THEBACKND_HCLOUD_ENDPOINT: emu.hetznerUrl };
  const file = path.join(dir, 'result', 'nixos.img.zst');
  const ok = await run(['import-image', '--provider', 'hetzner', '--file', file, '--name', 'thebacknd-base-cli', '--device', RESCUE_DISK, '--json'], env);
  assert.equal(ok.code, 0, ok.err);
  const printed = JSON.parse(ok.out) as { provider: string; imageId: string; name: string; setting: string };
  assert.deepEqual({ ...printed, imageId: undefined }, { provider: 'hetzner', imageId: undefined, name: 'thebacknd-base-cli', setting: 'thebacknd.hetzner.image' });
  assert.equal(emu.state.hetznerImages.get(Number(printed.imageId))?.labels['thebacknd-image'], 'thebacknd-base-cli');
  assert.ok(fs.readFileSync(hook.snapshots.get(Number(printed.imageId))!).equals(raw));
  assert.match(ok.err, /writing the image to the disk: .* of .* MiB/);
  assert.match(ok.err, /accepted on first use/);
  await assertCleanedUp();

  const noProvider = await run(['import-image', '--file', file], env);
  assert.equal(noProvider.code, 2);
  assert.match(noProvider.err, /--provider must be digitalocean or hetzner/);
  const noToken = await run(['import-image', '-p', 'hetzner', '-f', file], { THEBACKND_HCLOUD_ENDPOINT: emu.hetznerUrl });
  assert.equal(noToken.code, 1);
  assert.match(noToken.err, /No Hetzner token: set HCLOUD_TOKEN/);
  const rejected = await run(['import-image', '-p', 'hetzner', '-f', file, '--device', RESCUE_DISK], { ...env, HCLOUD_TOKEN: 'bad-token-rejected-1234' });
  assert.equal(rejected.code, 1);
  assert.match(rejected.err, /Hetzner token was rejected/);
  assert.doesNotMatch(rejected.err + rejected.out, /bad-token-rejected-1234/);
  await assertCleanedUp();
});
