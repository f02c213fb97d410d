// Test hosts themselves: their own address, their metadata service, isolation, the gateway, the emulator hook.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { buildUserData, serializeUserData } from '../../../src/agent/user-data';
import { generateEd25519 } from '../../../src/base/ed25519';
import { createTestHost, exposeToHosts, testHostHook, type TestHost } from '../../fixtures/testhost';
import { ip } from '../../fixtures/testhost/net';

const hosts: TestHost[] = [];
after(async () => {
  await Promise.all(hosts.map((h) => h.close()));
});

async function namespaces(): Promise<string[]> {
  return (await ip('netns', 'list'))
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 2000 });
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
    s.on('timeout', () => (s.destroy(), resolve(false)));
  });
}

test('a host has its own address with sshd on port 22 and the provider metadata service at 169.254.169.254', async () => {
  const userData = JSON.stringify({ version: 1, authorizedKeys: [] });
  const [a, b] = await Promise.all([createTestHost({ provider: 'digitalocean', userData }), createTestHost({ provider: 'hetzner', userData })]);
  hosts.push(a, b);
  await Promise.all([a.booted, b.booted]);
  assert.match(a.ip, /^10\.213\.\d+\.\d+$/);
  assert.notEqual(a.ip, b.ip);
  assert.ok((await namespaces()).includes(a.ns));
  assert.ok(await tcpOpen(a.ip, 22), 'sshd answers on the host address');

  const get = (h: TestHost, p: string): Promise<{ stdout: string }> => h.exec(['curl', '-s', '-w', ' %{http_code}', `http://169.254.169.254${p}`]);
  assert.equal((await get(a, '/metadata/v1/user-data')).stdout, `${userData} 200`);
  assert.match((await get(a, '/hetzner/v1/userdata')).stdout, / 404$/);
  assert.equal((await get(b, '/hetzner/v1/userdata')).stdout, `${userData} 200`);
  assert.match((await get(b, '/metadata/v1/user-data')).stdout, / 404$/);
  // The metadata address exists only inside the namespaces (checked without sending anything to it).
  assert.ok(!(await ip('-o', 'addr', 'show')).includes('169.254.169.254'));
  assert.match(await ip('-n', a.ns, '-o', 'addr', 'show', 'dev', 'lo'), /169\.254\.169\.254\/32/);
  // Hosts reach this machine, not each other (no forwarding).
  const cross = await a.exec(['curl', '-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', `http://${b.ip}:22/`]);
  assert.equal(cross.stdout, '000');
  const outside = await a.exec(['ip', 'route', 'get', '192.0.2.1']);
  assert.match(outside.stderr, /unreachable/, 'no route leaves the test range');
});

test('a server on 127.0.0.1 is reachable from every host through the services gateway', async () => {
  const server = http.createServer((_req, res) => res.end('from this machine'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const exposed = await exposeToHosts((server.address() as net.AddressInfo).port);
  try {
    const h = await createTestHost({ provider: 'digitalocean', userData: '' });
    hosts.push(h);
    await h.booted;
    assert.notEqual(exposed.host, h.gatewayIp, 'one gateway for all hosts, not the host link');
    const res = await h.exec(['curl', '-s', '-m', '5', exposed.url]);
    assert.equal(res.stdout, 'from this machine');
  } finally {
    await exposed.close();
    server.close();
  }
});

test('the emulator hook turns a created machine into a host with the pinned key, and deleting it removes the host', async () => {
  const hostKey = await generateEd25519('host');
  const userData = serializeUserData(buildUserData({ hostKey: { private: hostKey.privateKey, public: hostKey.publicKey }, authorizedKeys: [], target: { kind: 'bare' } }));
  const hook = testHostHook();
  const addrs = await hook.onCreate({ provider: 'hetzner', id: 42, name: 'thebacknd-1', userData });
  const h = hook.host('hetzner', 42);
  assert.ok(h && addrs && addrs.ipv4 === h.ip);
  const boot = await h.booted;
  assert.deepEqual(
    boot.events.map((e) => e.stage),
    ['metadata', 'keys', 'done'],
  );
  const scan = await h.exec(['ssh-keyscan', '-T', '5', '-t', 'ed25519', h.ip]);
  assert.equal(scan.stdout.trim().split(' ').slice(1, 3).join(' '), hostKey.publicKey.split(' ').slice(0, 2).join(' '));
  const name = await h.exec(['curl', '-s', 'http://169.254.169.254/hetzner/v1/metadata/hostname']);
  assert.equal(name.stdout, 'thebacknd-1');
  await hook.onDelete?.({ provider: 'hetzner', id: 42, name: 'thebacknd-1' });
  assert.equal(hook.host('hetzner', 42), undefined);
  assert.ok(!(await namespaces()).includes(h.ns));
});
