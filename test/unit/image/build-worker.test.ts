// Building the base image on a temporary server, for a computer that cannot build x86_64-linux, against the emulator
// with real test hosts: the build worker is a test host playing a stock Debian server (its cloud-init simulated by
// test/fixtures/testhost/stock.ts: the cloud-config's host key and root's login key, then sshd), reached over real
// SSH with the pinned key; the Hetzner import then runs as usual through a rescue test host.
//
// Stood in: the image flake. The real nix/ flake needs nixpkgs and hours of downloads, so the worker builds a flake
// whose `hetzner-image` is a plain derivation writing nixos.img.zst (zstd of `seq 1 300000`). The `nix build` on the
// worker, the copy of the flake, the relay of the result and the import are real. Installing Nix is skipped by the
// worker script itself: the test host already has Debian's Nix (`command -v nix`), as a worker with Nix would.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../../src/cli/main';
import { IMAGE_COMMANDS } from '../../../src/cli/image';
import { isAbort } from '../../../src/base/errors';
import { DEFAULTS } from '../../../src/base/settings';
import { importImage, localImageBuild, type ImportImageRequest } from '../../../src/image';
import { HostKeyMismatchError } from '../../../src/ssh/session';
import { startEmulator, type Emulator, type HostHookMachine } from '../../fixtures/emulator';
import { startS3 } from '../../fixtures/s3';
import { exposeToHosts } from '../../fixtures/testhost';
import { RESCUE_DISK, rescueHostHook, type RescueHostHook } from '../../fixtures/testhost/rescue';
import { writeRootNixConf } from '../../fixtures/testhost/root-nix';
import { hetznerImportRequest } from './hetzner-request';

let emu: Emulator;
let hook: RescueHostHook;
let dir: string;
let flake: string;
let failing: string;
let expected: Buffer;
/** Set by a test: the stock host installs another host key than the one its user-data names. */
let otherHostKey = false;

function standInFlake(name: string, script: string): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  fs.writeFileSync(
    path.join(d, 'flake.nix'),
    `{ outputs = { self }: let mk = out: derivation {
      name = "stand-in-image"; system = "x86_64-linux"; builder = "/bin/sh"; PATH = "/bin:/usr/bin";
      args = [ "-c" (builtins.replaceStrings [ "OUT" ] [ out ] ${JSON.stringify(script)}) ]; nonce = "${name}-${Date.now()}"; };
      in { packages.x86_64-linux = { hetzner-image = mk "nixos.img.zst"; digitalocean-image = mk "nixos.qcow2.gz"; }; }; }\n`,
  );
  return d;
}

before(async () => {
  emu = await startEmulator({ delays: { doActiveMs: 50, hetznerStartingMs: 50, hetznerRunningMs: 50, actionMs: 100, deleteMs: 50 } });
  hook = rescueHostHook();
  const inner = hook.onCreate;
  hook.onCreate = async (m: HostHookMachine) => {
    let userData = m.userData;
    if (m.stockImage && otherHostKey) {
      const k = path.join(dir, `other-${m.id}`);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', k]);
      const c = JSON.parse(userData.split('\n').slice(1).join('\n')) as { ssh_keys: Record<string, string> };
      c.ssh_keys = { ed25519_private: fs.readFileSync(k, 'utf8'), ed25519_public: fs.readFileSync(`${k}.pub`, 'utf8').trim() };
      userData = `#cloud-config\n${JSON.stringify(c)}`;
    }
    const addrs = await inner({ ...m, userData });
    const h = hook.host(m.provider, m.id);
    if (h && m.stockImage) {
      // Root's Nix without build users on the test host (the official installer makes a daemon and nixbld users).
      writeRootNixConf(h);
    }
    return addrs;
  };
  emu.setHostHook(hook);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-build-worker-'));
  flake = standInFlake('flake', 'mkdir $out && seq 1 300000 > img && /usr/bin/zstd -q img -o $out/OUT');
  failing = standInFlake('failing', 'echo the stand-in image build fails on purpose >&2; exit 3');
  expected = execFileSync('seq', ['1', '300000'], { maxBuffer: 16 * 1024 * 1024 });
});

after(async () => {
  await hook?.closeAll();
  await emu?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function request(extra: Partial<ImportImageRequest> = {}, flakeDir = flake): ImportImageRequest {
  return hetznerImportRequest(emu, {
    file: path.join(dir, 'no-image-here'),
    name: 'thebacknd-base-worker',
    buildOnWorker: { flakeDir, pollMs: 50, sshTimeoutMs: 60_000 },
    ...extra,
  });
}

/** Every server (the build worker, the rescue server) is deleted and its test host gone. */
async function assertNoServer(): Promise<void> {
  const end = Date.now() + 30_000;
  while (emu.state.servers.size > 0 || hook.hosts.size > 0) {
    if (Date.now() > end) assert.fail(`left: ${[...emu.state.servers.values()].map((s) => s.name).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function workerCreate(): { image: string; user_data: string; labels: Record<string, string> } | undefined {
  return emu.requests
    .filter((r) => r.method === 'POST' && r.path === '/v1/servers')
    .map((r) => r.body as { image: string; user_data: string; labels: Record<string, string> })
    .reverse()
    .find((b) => b.image === 'debian-12' && b.user_data.startsWith('#cloud-config'));
}

test('the image is built on a stock Debian worker and imported from it; the worker is destroyed', { timeout: 240_000 }, async () => {
  const statuses: string[] = [];
  const log: string[] = [];
  const debug = process.env.THEBACKND_TEST_DEBUG ? (l: string) => console.error(l) : () => undefined;
  const res = await importImage(request({ onStatus: (s) => (statuses.push(s.message), debug(s.message)), log: (l) => (log.push(l), debug(l)) }));

  // Imported in the emulator account: a snapshot holding exactly what the worker built.
  const image = emu.state.hetznerImages.get(Number(res.imageId));
  assert.equal(image?.labels['thebacknd-image'], 'thebacknd-base-worker');
  assert.ok(fs.readFileSync(hook.snapshots.get(Number(res.imageId))!).equals(expected), 'the snapshot is the worker-built image, decompressed');

  // The worker: stock image, a deadline like every machine, cloud-init user-data with keys only.
  const body = workerCreate();
  assert.ok(body, 'a debian-12 server with cloud-config user-data was created');
  assert.match(body.labels['thebacknd-deadline'] ?? '', /^\d{8}T\d{6}Z$/);
  assert.equal(body.labels.thebacknd, '');
  assert.doesNotMatch(body.user_data, /test-token/);
  assert.match(body.user_data, /"ssh_keys"/);
  assert.ok(
    log.some((l) => /Connected to thebacknd-\d+ .* with its pinned host key/.test(l)),
    log.join('\n'),
  );
  assert.ok(
    log.some((l) => l.startsWith('Nix is installed')),
    'the worker script found Nix and skipped the installer',
  );
  assert.ok(statuses.some((s) => s.startsWith('building hetzner-image')));
  assert.ok(
    log.some((l) => /^Build worker thebacknd-\d+ deleted\.$/.test(l)),
    log.join('\n'),
  );
  await assertNoServer();
  assert.deepEqual(emu.violations, []);
  assert.deepEqual(emu.errors, []);
});

test("a failing build on the worker fails with the build's reason, and the worker is destroyed", { timeout: 240_000 }, async () => {
  const before = emu.state.hetznerImages.size;
  await assert.rejects(importImage(request({}, failing)), /Building hetzner-image on thebacknd-\d+ failed \(exit 1\)/);
  assert.equal(emu.state.hetznerImages.size, before, 'nothing imported');
  await assertNoServer();
});

test('a cancelled build destroys the worker', { timeout: 240_000 }, async () => {
  const ctl = new AbortController();
  await assert.rejects(importImage(request({ signal: ctl.signal, onStatus: (s) => s.message.startsWith('building') && ctl.abort() })), (e: unknown) => isAbort(e));
  await assertNoServer();
});

test('a worker answering with another host key than the pinned one is refused, and destroyed', { timeout: 240_000 }, async () => {
  otherHostKey = true;
  try {
    await assert.rejects(importImage(request({ buildOnWorker: { flakeDir: flake, pollMs: 50, sshTimeoutMs: 3000 } })), (e: unknown) => e instanceof HostKeyMismatchError);
  } finally {
    otherHostKey = false;
  }
  await assertNoServer();
});

function fakeNix(system: string): string {
  const bin = path.join(dir, `bin-${system}`);
  fs.mkdirSync(bin, { recursive: true });
  const show = JSON.stringify({ builders: { value: '' }, 'extra-platforms': { value: [] } });
  fs.writeFileSync(path.join(bin, 'nix'), `#!/bin/sh\ncase "$*" in *currentSystem*) printf ${system};; *show-config*) echo '${show}';; *) echo "nix (Nix) 2.24.0";; esac\n`, {
    mode: 0o755,
  });
  return bin;
}

test('the local check: no Nix, or a Nix that is not x86_64-linux without a builder for it, cannot build the image', async () => {
  const empty = path.join(dir, 'empty-bin');
  fs.mkdirSync(empty, { recursive: true });
  assert.deepEqual(await localImageBuild({ env: { PATH: empty, HOME: dir } }), { ok: false, reason: 'Nix is not installed on this computer' });
  assert.deepEqual(await localImageBuild({ env: { PATH: fakeNix('aarch64-darwin'), HOME: dir } }), {
    ok: false,
    reason: "this computer's Nix is aarch64-darwin and has no builder for x86_64-linux",
  });
  const here = await localImageBuild({ env: { ...process.env, NIX_CONFIG: 'build-users-group =' } });
  assert.deepEqual(here, { ok: true, how: 'this computer is x86_64-linux' });
});

test('thebacknd import-image offers the worker when there is no image and the local Nix cannot build it; --build-on-worker imports', { timeout: 240_000 }, async () => {
  const run = async (args: string[], env: NodeJS.ProcessEnv) => {
    let out = '';
    let err = '';
    const sink = (add: (s: string) => void) => new Writable({ write: (chunk: Buffer, _enc, done) => (add(chunk.toString()), done()) });
    const code = await main(args, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env, interactive: false }, IMAGE_COMMANDS);
    return { code, out, err };
  };
  const env = { HCLOUD_TOKEN: 'secret-hcloud-token-1234', THEBACKND_HCLOUD_ENDPOINT: emu.hetznerUrl, PATH: fakeNix('aarch64-darwin'), HOME: dir };
  const missing = path.join(dir, 'absent.img.zst');
  // No --file: the default build output is absent from the working folder, so the check runs.
  const offered = await run(['import-image', '--provider', 'hetzner'], env);
  assert.equal(offered.code, 1, offered.err);
  assert.match(offered.err, /aarch64-darwin and has no builder for x86_64-linux: Thebacknd can build it on a temporary server .* Run again with --build-on-worker\./);
  assert.equal(emu.state.servers.size, 0, 'nothing created by the offer');

  const built = await run(['import-image', '--provider', 'hetzner', '--file', missing, '--build-on-worker', '--image-flake', flake, '--device', RESCUE_DISK, '--json'], env);
  assert.equal(built.code, 0, built.err);
  const printed = JSON.parse(built.out) as { imageId: string };
  assert.ok(fs.readFileSync(hook.snapshots.get(Number(printed.imageId))!).equals(expected));
  assert.doesNotMatch(built.err, /secret-hcloud-token-1234/);
  await assertNoServer();
});

test('DigitalOcean: the worker uploads the image to a presigned link of the cache bucket, DigitalOcean imports it; the worker is destroyed', { timeout: 240_000 }, async () => {
  const s3 = await startS3('cache');
  const exposed = await exposeToHosts(s3.port);
  try {
    const log: string[] = [];
    const res = await importImage({
      ...request({ log: (l) => log.push(l) }),
      provider: 'digitalocean',
      endpoint: emu.doUrl,
      region: 'ams3',
      settings: { ...DEFAULTS, cache: s3.cache({ endpoint: exposed.url }) },
      credentials: s3.credentials,
      digitalocean: { pollIntervalMs: 50 },
    });
    const image = emu.state.doImages.get(Number(res.imageId));
    assert.equal(image?.status, 'available');
    // The worker PUT the object with the presigned link (no key of the bucket on the worker), DigitalOcean GET it.
    assert.ok(
      s3.requests.some((r) => r.method === 'PUT' && r.url.startsWith('/cache/images/thebacknd-base-worker.qcow2.gz?')),
      'uploaded by link',
    );
    const create = emu.requests.find((r) => r.method === 'POST' && r.path === '/v2/droplets');
    const body = create?.body as { image: string; size: string; user_data: string };
    assert.equal(body.image, 'debian-12-x64');
    assert.equal(body.size, 's-2vcpu-4gb', 'a worker that can build the image, not the 1 GiB machine default');
    assert.doesNotMatch(body.user_data, new RegExp(s3.credentials.secretAccessKey));
    assert.ok(!log.some((l) => l.includes(s3.credentials.secretAccessKey) || /X-Amz-Signature/.test(l)), 'no secret or link in the log');
    const end = Date.now() + 30_000;
    while ([...emu.state.droplets.values()].some((d) => !d.deleting) || hook.hosts.size > 0) {
      if (Date.now() > end) assert.fail('the DigitalOcean worker is left');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await exposed.close();
    await s3.stop();
  }
});

test('a bad image name is refused before a worker is created', async () => {
  const before = emu.requests.length;
  await assert.rejects(importImage(request({ name: '-bad name' })), /"-bad name" is not a valid image name/);
  assert.equal(emu.requests.length, before, 'no API request was sent');
});
