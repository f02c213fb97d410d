// The host hook (a created machine backed by a real listener), clock skew, and the standalone CLI.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator, type HostHook } from '../../fixtures/emulator';
import { assertClean, dots, hcloud, raw, until } from './helpers';

/** A stand-in for a test host: a TCP listener on its own loopback address that greets with the machine's name. */
function hostsHook(): HostHook & { hosts: Map<number, { server: net.Server; port: number; userData: string }>; deleted: number[] } {
  const hosts = new Map<number, { server: net.Server; port: number; userData: string }>();
  const deleted: number[] = [];
  let n = 10;
  return {
    hosts,
    deleted,
    async onCreate(m) {
      const ip = `127.0.0.${n++}`;
      const server = net.createServer((s) => s.end(`hello from ${m.name}\n`));
      await new Promise<void>((r) => server.listen(0, ip, r));
      hosts.set(m.id, { server, port: (server.address() as net.AddressInfo).port, userData: m.userData });
      return { ipv4: ip, ipv6: 'fd00:7:0:1::1' };
    },
    async onDelete(m) {
      deleted.push(m.id);
      const h = hosts.get(m.id);
      if (h) await new Promise<void>((r) => h.server.close(() => r()));
    },
  };
}

function greet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => undefined);
    let text = '';
    s.on('data', (d) => (text += d.toString()));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
}

describe('host hook, clock and CLI', () => {
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator({ delays: { doActiveMs: 60, hetznerStartingMs: 30, hetznerRunningMs: 30, deleteMs: 0 } });
  });
  after(() => emu.close());

  test('a DigitalOcean droplet backed by a real host: its public IPv4 reaches the host; delete calls onDelete', async () => {
    const hook = hostsHook();
    emu.setHostHook(hook);
    try {
      const api = dots(emu);
      const { data } = await api.droplet.createDroplet({ name: 'thebacknd-1', region: 'fra1', size: 's-1vcpu-1gb', image: 171010001, user_data: '{"run":1}', ipv6: true });
      assert.equal(hook.hosts.get(data.droplet.id)?.userData, '{"run":1}');
      const d = await until('active', async () => {
        const r = await api.droplet.getDroplet({ droplet_id: data.droplet.id });
        return r.data.droplet.status === 'active' ? r.data.droplet : undefined;
      });
      const ip = d.networks.v4.find((x) => x.type === 'public')!.ip_address;
      assert.equal(await greet(ip, hook.hosts.get(d.id)!.port), 'hello from thebacknd-1\n');
      assert.equal(d.networks.v6[0].ip_address, 'fd00:7:0:1::1');
      await api.droplet.deleteDroplet({ droplet_id: d.id });
      await until('onDelete', () => hook.deleted.includes(d.id) || undefined);
    } finally {
      emu.setHostHook(undefined);
    }
    assertClean(emu);
  });

  test('a Hetzner server backed by a real host: IPv4 as given, IPv6 as the /64 around the host address', async () => {
    const hook = hostsHook();
    emu.setHostHook(hook);
    try {
      const api = hcloud(emu);
      const { data } = await api.POST('/servers', { body: { name: 'thebacknd-1', server_type: 'cx22', image: '201000001', user_data: 'ud' } });
      assert.ok(data);
      const ip = data.server.public_net.ipv4!.ip;
      assert.match(ip, /^127\.0\.0\.\d+$/);
      assert.equal(data.server.public_net.ipv6!.ip, 'fd00:7:0:1::/64');
      assert.equal(await greet(ip, hook.hosts.get(data.server.id)!.port), 'hello from thebacknd-1\n');
      await api.DELETE('/servers/{id}', { params: { path: { id: data.server.id } } });
      await until('onDelete', () => hook.deleted.includes(data.server.id) || undefined);
    } finally {
      emu.setHostHook(undefined);
    }
    assertClean(emu);
  });

  test('a failing hook fails the create with a 500 and is reported in errors, leaving no machine', async () => {
    emu.setHostHook({ onCreate: () => Promise.reject(new Error('namespace setup failed')) });
    try {
      const r = await hcloud(emu).POST('/servers', { body: { name: 'thebacknd-2', server_type: 'cx22', image: '201000001' } });
      assert.equal(r.response.status, 500);
      assert.equal(emu.state.servers.size, 0);
      assert.deepEqual(
        emu.errors.splice(0).map((e) => e.replace(/\d+/g, 'N')),
        ['onCreate server N: namespace setup failed'],
      );
    } finally {
      emu.setHostHook(undefined);
    }
    assertClean(emu);
  });

  test('setClock skews the Date header and created timestamps', async () => {
    // On an injected server clock frozen at T (a whole second): the skewed times are exact.
    const T = Date.UTC(2026, 2, 3, 4, 5, 6);
    const frozen = await startEmulator({ clock: () => T });
    try {
      frozen.setClock(-3 * 3_600_000);
      const r = await raw(`${frozen.hetznerUrl}/locations`);
      assert.equal(Date.parse(r.headers.get('date')!), T - 3 * 3_600_000);
      const { data } = await dots(frozen).droplet.createDroplet({ name: 'clock', region: 'fra1', size: 's-1vcpu-1gb', image: 171010001 });
      assert.equal(Date.parse(data.droplet.created_at), T - 3 * 3_600_000);
      await dots(frozen).droplet.deleteDroplet({ droplet_id: data.droplet.id });
      assertClean(frozen);
    } finally {
      await frozen.close();
    }
  });

  test('the standalone CLI prints both base URLs, serves them, rejects the given token, and stops on SIGTERM', async () => {
    const main = path.join(__dirname, '../../fixtures/emulator/main.js');
    const child = spawn(process.execPath, [main, '--port', '0', '--reject-token', 'bad', '--do-active-ms', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      child.stdout.on('data', (d) => (out += d.toString()));
      const urls = await until('URLs printed', () => {
        const d = /THEBACKND_DO_ENDPOINT=(\S+)/.exec(out)?.[1];
        const h = /THEBACKND_HCLOUD_ENDPOINT=(\S+)/.exec(out)?.[1];
        return d && h ? { d, h } : undefined;
      });
      assert.match(urls.d, /^http:\/\/127\.0\.0\.1:\d+\/v2$/);
      assert.match(urls.h, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      assert.equal((await raw(`${urls.d}/account`)).status, 200);
      assert.equal((await raw(`${urls.h}/servers`, { token: 'bad' })).status, 401);
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
