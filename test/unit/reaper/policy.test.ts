// The reaper's decisions (src/reaper/policy.ts): what goes, why, and on whose clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideReaping, nextReapAt } from '../../../src/reaper/policy';
import type { Machine } from '../../../src/providers/types';

const server = new Date('2026-11-23T12:00:00Z');
const min = 60_000;

function machine(name: string, over: Partial<Machine>): Machine {
  return {
    id: name,
    provider: 'hetzner',
    name,
    runId: undefined,
    status: 'running',
    ipv4: undefined,
    ipv6: undefined,
    region: 'fsn1',
    size: 'cx22',
    pricePerHour: 0.006,
    currency: 'EUR',
    createdAt: new Date(server.getTime() - 10 * min).toISOString(),
    deadline: new Date(server.getTime() + 50 * min).toISOString(),
    toplevel: undefined,
    tagged: true,
    ...over,
  };
}

test('past deadline, powered off, and deadline-less old machines go, each with its reason', () => {
  const machines = [
    machine('keep', {}),
    machine('late', { deadline: new Date(server.getTime() - 5 * min).toISOString() }),
    machine('off', { status: 'off' }),
    machine('old', { deadline: undefined, createdAt: new Date(server.getTime() - 61 * min).toISOString() }),
    machine('young', { deadline: undefined, createdAt: new Date(server.getTime() - 59 * min).toISOString() }),
    machine('untagged', { tagged: false, status: 'off', deadline: new Date(0).toISOString() }),
    machine('going', { status: 'destroying', deadline: new Date(0).toISOString() }),
  ];
  const d = decideReaping({ machines, serverTime: server, maxAgeMinutes: 60 });
  assert.deepEqual(
    d.map((x) => [x.machine.name, x.reason]),
    [
      ['late', 'deadline'],
      ['off', 'off'],
      ['old', 'age'],
    ],
  );
  assert.match(d[0]!.why, /late: deadline passed 5 min ago/);
  assert.match(d[2]!.why, /no deadline and 61 min old \(max 60 min\)/);
});

test('the local clock only measures time since the list: a skewed local clock changes nothing', () => {
  const m = [machine('m', { deadline: new Date(server.getTime() + 2 * min).toISOString() })];
  // Local clock 3 hours off, but only 1 minute passed since the list: not yet.
  const skewed = new Date('2026-11-23T15:00:00Z');
  assert.equal(decideReaping({ machines: m, serverTime: server, listedAt: skewed, now: new Date(skewed.getTime() + min), maxAgeMinutes: 60 }).length, 0);
  // Three minutes later: the deadline has passed on the server's clock.
  assert.equal(decideReaping({ machines: m, serverTime: server, listedAt: skewed, now: new Date(skewed.getTime() + 3 * min), maxAgeMinutes: 60 }).length, 1);
});

test('nextReapAt: the earliest future deadline, on the local clock', () => {
  const listedAt = new Date('2030-01-01T00:00:00Z');
  const machines = [
    machine('a', { deadline: new Date(server.getTime() + 30 * min).toISOString() }),
    machine('b', { deadline: undefined, createdAt: new Date(server.getTime() - 50 * min).toISOString() }),
  ];
  const next = nextReapAt({ machines, serverTime: server, listedAt, now: listedAt, maxAgeMinutes: 60 });
  assert.equal(next?.toISOString(), new Date(listedAt.getTime() + 10 * min).toISOString());
  assert.equal(nextReapAt({ machines: [], serverTime: server, maxAgeMinutes: 60 }), undefined);
});
