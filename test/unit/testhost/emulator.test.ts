// End to end through the cloud emulator: a machine created through a provider becomes a test host that boots its
// user-data; a binary run powers the machine off and the API shows it off; destroying it removes the host.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createProvider } from '../../../src/providers';
import type { CloudProvider, ProviderId } from '../../../src/providers/types';
import { buildUserData, serializeUserData } from '../../../src/agent/user-data';
import { generateEd25519 } from '../../../src/base/ed25519';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { buildTestClosures, startHostCache, testHostHook, type HostCache, type TestClosures, type TestHostHook } from '../../fixtures/testhost';
import { ip } from '../../fixtures/testhost/net';
import { until as waitUntil } from '../../fixtures/wait';

let emu: Emulator;
let hook: TestHostHook;
let cache: HostCache;
let closures: TestClosures;
let work: string;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-emu-host-'));
  closures = await buildTestClosures(work);
  cache = await startHostCache();
  await cache.upload(closures.cacheDir);
  emu = await startEmulator({ delays: { doActiveMs: 50, hetznerStartingMs: 50, hetznerRunningMs: 50, actionMs: 50, deleteMs: 50 } });
  hook = testHostHook({ onPowerOff: (m) => emu.powerOff(m.provider, m.id) });
  emu.setHostHook(hook);
});

after(async () => {
  await hook?.closeAll();
  await emu?.close();
  await cache?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** A machine boots a real test host here: up to a minute, polled every 200 ms. */
const until = <T>(what: string, get: () => Promise<T | undefined>): Promise<T> => waitUntil(what, get, 60_000, 200);

async function binaryRun(providerId: ProviderId): Promise<void> {
  const provider: CloudProvider = createProvider(providerId, { token: 'test-token', endpoint: providerId === 'digitalocean' ? emu.doUrl : emu.hetznerUrl });
  const hostKey = await generateEd25519('host');
  const userData = serializeUserData(
    buildUserData({
      hostKey: { private: hostKey.privateKey, public: hostKey.publicKey },
      authorizedKeys: [],
      cache: { url: cache.url, trustedPublicKey: closures.publicKey, private: false },
      target: { kind: 'binary', path: closures.binary, args: [providerId] },
    }),
  );
  const machine = await provider.create({
    region: providerId === 'digitalocean' ? 'ams3' : 'fsn1',
    size: providerId === 'digitalocean' ? 's-1vcpu-1gb' : 'cx22',
    image: providerId === 'digitalocean' ? 'ubuntu-24-04-x64' : 'ubuntu-24.04',
    userData,
    deadline: new Date(Date.now() + 3600_000),
  });
  const host = hook.host(providerId, machine.id);
  assert.ok(host, 'the created machine is backed by a test host');
  const running = await until('an address', async () => ((await provider.get(machine.id))?.ipv4 ? provider.get(machine.id) : undefined));
  assert.equal(running?.ipv4, host.ip, 'the API reports the host address');

  const boot = await host.booted;
  assert.deepEqual(boot.events[boot.events.length - 1], { stage: 'poweroff', exitCode: 0 }, boot.lines.join('\n'));
  assert.equal(fs.readFileSync(host.file('root/job-ran'), 'utf8'), `${providerId}|`);
  const off = await until('the machine off', async () => ((await provider.get(machine.id))?.status === 'off' ? true : undefined));
  assert.equal(off, true);

  await provider.destroy(machine.id);
  await until('the host removed', async () => (hook.host(providerId, machine.id) ? undefined : true));
  assert.ok(!(await ip('netns', 'list')).includes(host.ns));
  assert.deepEqual(emu.errors, []);
}

test('DigitalOcean: a binary run on an emulated droplet powers it off; destroying it removes the host', () => binaryRun('digitalocean'));

test('Hetzner: a binary run on an emulated server powers it off; destroying it removes the host', () => binaryRun('hetzner'));
