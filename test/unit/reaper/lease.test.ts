// The lease that makes one reaper across windows: real files, real concurrent processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lease } from '../../../src/reaper/lease';

function tmpDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-lease-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('one holder at a time; it renews; another takes over only after expiry; the last pass time is handed over', async (t) => {
  const dir = tmpDir(t);
  let now = 1_000_000;
  const a = new Lease(dir, { ttlMs: 90_000, owner: 'window-a', now: () => now });
  const b = new Lease(dir, { ttlMs: 90_000, owner: 'window-b', now: () => now });
  assert.equal((await a.acquire())?.owner, 'window-a');
  assert.equal(await b.acquire(), undefined, 'b waits while a holds it');
  now += 60_000;
  assert.ok(await a.acquire(), 'a renews');
  assert.ok(await a.recordPass(now));
  now += 60_000;
  assert.equal(await b.acquire(), undefined, "renewed: still a's");
  assert.equal(await b.recordPass(now), false, 'a non-holder cannot record a pass');
  now += 31_000;
  const took = await b.acquire();
  assert.equal(took?.owner, 'window-b', 'expired: b takes over');
  assert.equal(took?.lastPassAt, 1_060_000, "with a's last pass, so the period goes on");
  assert.equal(await a.acquire(), undefined, 'a lost it');
});

test('release hands over at once, keeping the last pass', async (t) => {
  const dir = tmpDir(t);
  const a = new Lease(dir, { ttlMs: 90_000, owner: 'a' });
  const b = new Lease(dir, { ttlMs: 90_000, owner: 'b' });
  await a.acquire();
  await a.recordPass(42);
  await a.release();
  const r = await b.acquire();
  assert.equal(r?.owner, 'b');
  assert.equal(r?.lastPassAt, 42);
});

test('a corrupt lease file or a guard left by a crashed process does not block reaping forever', async (t) => {
  const dir = tmpDir(t);
  fs.writeFileSync(path.join(dir, 'reaper.lease'), '{"owner": "half-writ');
  const guard = path.join(dir, 'reaper.lease.guard');
  fs.mkdirSync(guard);
  const old = new Date(Date.now() - 60_000);
  fs.utimesSync(guard, old, old);
  const a = new Lease(dir, { ttlMs: 90_000, owner: 'a' });
  assert.equal((await a.acquire())?.owner, 'a');
  // A fresh guard (another window inside its critical section) is respected: no acquisition while it stands.
  await a.release();
  fs.mkdirSync(guard);
  const b = new Lease(dir, { ttlMs: 1, owner: 'b' });
  assert.equal(await b.acquire(), undefined);
  fs.rmdirSync(guard);
  assert.equal((await b.acquire())?.owner, 'b');
});

// Each child process plays a window: it tries the lease many times over an expiring TTL and records, in its own
// file, every interval it believes it holds it. Overlapping holding intervals from two processes are the bug.
const CHILD = `
const { Lease } = require(${JSON.stringify(path.resolve(__dirname, '../../../src/reaper/lease.js'))});
const fs = require('node:fs');
const [dir, name, out] = process.argv.slice(1);
(async () => {
  const lease = new Lease(dir, { ttlMs: 150, owner: name });
  const held = [];
  // A number of attempts, not a stretch of time: a loaded machine slows the race down, it does not shorten it.
  for (let i = 0; i < 200; i++) {
    const r = await lease.acquire();
    // The holder decided at expiresAt - ttl (its clock, which every process here shares).
    if (r) held.push([r.expiresAt - 150, r.expiresAt]);
    // Now and then the holder stalls past its expiry, as a sleeping or closed window does.
    const pause = r && Math.random() < 0.15 ? 200 : Math.random() * 10;
    await new Promise((res) => setTimeout(res, pause));
  }
  fs.writeFileSync(out, JSON.stringify(held));
})();
`;

test('processes racing for the lease never hold it at the same time', async (t) => {
  const dir = tmpDir(t);
  const n = 4;
  const outs = Array.from({ length: n }, (_, i) => path.join(dir, `held-${i}.json`));
  const children = outs.map((out, i) => spawn(process.execPath, ['-e', CHILD, path.join(dir, 'lease'), `p${i}`, out], { stdio: 'inherit' }));
  t.after(() => children.forEach((c) => c.kill('SIGKILL')));
  await Promise.all(children.map((c) => new Promise((r) => c.on('exit', r))));
  const intervals = outs.flatMap((out, i) => (JSON.parse(fs.readFileSync(out, 'utf8')) as [number, number][]).map(([from, to]) => ({ p: i, from, to })));
  assert.ok(intervals.length > 10, `the lease was taken (${intervals.length} times)`);
  assert.ok(new Set(intervals.map((x) => x.p)).size >= 2, 'it changed hands as it expired');
  // A holder's interval runs from its decision to the expiry it wrote; another process may only take the lease
  // once that expiry passed, so intervals of different processes never overlap.
  intervals.sort((x, y) => x.from - y.from);
  for (let i = 0; i < intervals.length; i++) {
    for (let j = i + 1; j < intervals.length && intervals[j]!.from < intervals[i]!.to; j++) {
      const [x, y] = [intervals[i]!, intervals[j]!];
      if (x.p !== y.p) assert.fail(`p${x.p} held it until ${x.to} but p${y.p} took it at ${y.from}`);
    }
  }
});

test('a lease whose holder process on this machine is dead is taken over at once, a live one is not', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-lease-dead-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
  await new Promise((r) => holder.once('spawn', r));
  const record = (pid: number) => JSON.stringify({ owner: `${os.hostname()}:${pid}:deadbeef`, expiresAt: Date.now() + 90_000, lastPassAt: 0, pid });
  fs.writeFileSync(path.join(dir, 'reaper.lease'), record(holder.pid!));
  const me = new Lease(dir, { ttlMs: 90_000, owner: 'window-new' });
  assert.equal(await me.acquire(), undefined, 'a live holder keeps its lease');
  holder.kill('SIGKILL');
  await new Promise((r) => holder.once('exit', r));
  assert.equal((await me.acquire())?.owner, 'window-new', 'a dead holder loses it without waiting for the TTL');
});
