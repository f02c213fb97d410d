// The seeds' rules as pure functions: names, tags/labels, status mapping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { smallestFreeName, nameNumber } from '../../../src/providers/naming';
import {
  doTags,
  formatDeadline,
  hetznerLabels,
  hetznerRunSelector,
  isRunId,
  newRunId,
  parseDeadline,
  readDoTags,
  readHetznerLabels,
  sameStorePath,
  storeHash,
} from '../../../src/providers/tags';
import { digitalOceanStatus, hetznerStatus } from '../../../src/providers/status';
import { hostAddress } from '../../../src/providers/hetzner';

const HASH = 'lk6igl2f0i137q36wscfrc6n9r0jn52l';
const TOPLEVEL = `/nix/store/${HASH}-nixos-system-unnamed-23.05pre-git`;

test('names: the smallest free N ≥ 1, reusing gaps, ignoring other names', () => {
  assert.equal(smallestFreeName([]), 'thebacknd-1');
  assert.equal(smallestFreeName(['thebacknd-1', 'thebacknd-2']), 'thebacknd-3');
  assert.equal(smallestFreeName(['thebacknd-1', 'thebacknd-3']), 'thebacknd-2');
  assert.equal(smallestFreeName(['thebacknd-2', 'web-1', 'thebacknd-x', 'thebacknd-01', 'thebacknd-0']), 'thebacknd-1');
  assert.equal(nameNumber('thebacknd-12'), 12);
  assert.equal(nameNumber('thebacknd-012'), undefined);
});

test('run ids are thebacknd-<uuid>, unique, and fit a Hetzner label value', () => {
  const a = newRunId();
  const b = newRunId();
  assert.match(a, /^thebacknd-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.notEqual(a, b);
  assert.ok(a.length <= 63);
  assert.ok(isRunId(a));
  assert.ok(!isRunId('thebacknd'));
  assert.ok(!isRunId('thebacknd-deadline:20260101T000000Z'));
});

test('deadlines round-trip through ISO 8601 basic format, valid in DO tags and Hetzner labels', () => {
  const d = new Date('2026-11-23T17:43:00.000Z');
  const s = formatDeadline(d);
  assert.equal(s, '20261123T174300Z');
  assert.match(s, /^[a-zA-Z0-9_:-]+$/, 'DigitalOcean tag alphabet');
  assert.match(s, /^[a-z0-9A-Z]([-_.a-zA-Z0-9]*[a-z0-9A-Z])?$/, 'Hetzner label value alphabet');
  assert.equal(parseDeadline(s)?.toISOString(), d.toISOString());
  assert.equal(parseDeadline('2026-11-23'), undefined);
  assert.equal(parseDeadline(undefined), undefined);
});

test('DigitalOcean tags carry the tag, run id, deadline and toplevel hash, all in the tag alphabet', () => {
  const runId = newRunId();
  const deadline = new Date('2026-01-02T03:04:05Z');
  const tags = doTags(runId, deadline, TOPLEVEL);
  for (const t of tags) assert.match(t, /^[a-zA-Z0-9_\-:]{1,255}$/);
  assert.deepEqual(tags, ['thebacknd', runId, 'thebacknd-deadline:20260102T030405Z', `thebacknd-toplevel:${HASH}`]);
  const back = readDoTags([...tags, 'something-else']);
  assert.deepEqual(back, { tagged: true, runId, deadline: deadline.toISOString(), toplevel: `/nix/store/${HASH}` });
  assert.ok(sameStorePath(back.toplevel, TOPLEVEL));
  assert.equal(readDoTags(['other']).tagged, false);
});

test('during an extend a droplet may carry two deadline tags: the later one wins', () => {
  const m = readDoTags(['thebacknd', 'thebacknd-deadline:20260102T030405Z', 'thebacknd-deadline:20260102T050405Z']);
  assert.equal(m.deadline, '2026-01-02T05:04:05.000Z');
});

test('Hetzner labels follow the label rules (keys and values ≤ 63, alphanumeric ends)', () => {
  const runId = newRunId();
  const labels = hetznerLabels(runId, new Date('2026-01-02T03:04:05Z'), TOPLEVEL);
  for (const [k, v] of Object.entries(labels)) {
    assert.match(k, /^[a-z0-9A-Z]([-_.a-zA-Z0-9]{0,61}[a-z0-9A-Z])?$/);
    assert.match(v, /^(([a-z0-9A-Z][-_.a-zA-Z0-9]{0,61})?[a-z0-9A-Z])?$/);
  }
  const back = readHetznerLabels(labels);
  assert.deepEqual(back, { tagged: true, runId, deadline: '2026-01-02T03:04:05.000Z', toplevel: `/nix/store/${HASH}` });
  assert.equal(readHetznerLabels({ env: 'prod' }).tagged, false);
  assert.equal(hetznerRunSelector(runId), `thebacknd,thebacknd-run==${runId}`);
});

test('store hashes: only real store paths count', () => {
  assert.equal(storeHash(TOPLEVEL), HASH);
  assert.equal(storeHash(HASH), HASH);
  assert.equal(storeHash('/nix/store/short-name'), undefined);
  assert.equal(storeHash(undefined), undefined);
  assert.ok(!sameStorePath(undefined, undefined));
  // No toplevel tag when the path is not a store path.
  assert.equal(doTags(newRunId(), new Date(), '/tmp/x').length, 3);
});

test('statuses: each cloud maps onto creating / running / off / destroying, unknown never to off', () => {
  assert.deepEqual(['new', 'active', 'off', 'archive', 'weird'].map(digitalOceanStatus), ['creating', 'running', 'off', 'destroying', 'creating']);
  assert.deepEqual(['initializing', 'starting', 'running', 'stopping', 'off', 'deleting', 'migrating', 'rebuilding', 'unknown'].map(hetznerStatus), [
    'creating',
    'creating',
    'running',
    'off',
    'off',
    'destroying',
    'running',
    'creating',
    'creating',
  ]);
});

test('Hetzner IPv6: the server answers on ::1 of its /64', () => {
  assert.equal(hostAddress('2001:db8:1:2::/64'), '2001:db8:1:2::1');
  assert.equal(hostAddress('2001:db8:1:2:0:0:0:0/64'), '2001:db8:1:2:0:0:0:1');
  assert.equal(hostAddress('2001:db8::5'), '2001:db8::5');
  assert.equal(hostAddress(null), undefined);
});
