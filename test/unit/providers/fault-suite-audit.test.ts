// The fault suite's counters must be able to count: each one sees the fault it exists for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator } from '../../fixtures/emulator';
import { newRunId } from '../../../src/providers/tags';
import { duplicates, leaked, machinesOf, untaggedTouched } from './fault-suite-audit';

test('duplicates, leaked machines and touched untagged machines are counted from the cloud itself', async (t) => {
  const emu = await startEmulator({ delays: { deleteMs: 0 } });
  t.after(() => emu.close());
  const run = newRunId();
  emu.addDroplet({ name: 'thebacknd-1', tags: ['thebacknd', run, 'thebacknd-deadline:20990101T000000Z'] });
  emu.addDroplet({ name: 'thebacknd-1', tags: ['thebacknd', run, 'thebacknd-deadline:20990101T000000Z'] });
  emu.addServer({ name: 'thebacknd-2', labels: { thebacknd: '', 'thebacknd-run': newRunId() } });
  const web = emu.addDroplet({ name: 'web', tags: ['web'] });
  const db = emu.addServer({ name: 'db', labels: {} });
  const untagged = [
    { provider: 'digitalocean' as const, id: web.id, tags: web.tags },
    { provider: 'hetzner' as const, id: db.id },
  ];

  const machines = machinesOf(emu);
  assert.deepEqual(
    duplicates(machines).map((m) => m.name),
    ['thebacknd-1'],
  );
  assert.deepEqual(
    leaked(machines).map((m) => m.name),
    ['thebacknd-2'],
  );
  assert.equal(untaggedTouched(emu.requests, untagged).length, 0);

  const call = (method: string, url: string, body?: unknown) =>
    fetch(url, { method, headers: { Authorization: 'Bearer x-token-for-the-audit-test', 'Content-Type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
  await call('GET', `${emu.doUrl}/droplets/${web.id}`);
  assert.equal(untaggedTouched(emu.requests, untagged).length, 0, 'reading is not touching');
  await call('DELETE', `${emu.doUrl}/droplets/${web.id}`);
  await call('PUT', `${emu.hetznerUrl}/servers/${db.id}`, { labels: { thebacknd: '' } });
  await call('POST', `${emu.doUrl}/tags/web/resources`, { resources: [{ resource_id: String(web.id), resource_type: 'droplet' }] });
  await call('DELETE', `${emu.doUrl}/droplets?tag_name=web`);
  assert.deepEqual(
    untaggedTouched(emu.requests, untagged).map((r) => `${r.method} ${r.path}`),
    [`DELETE /v2/droplets/${web.id}`, `PUT /v1/servers/${db.id}`, 'POST /v2/tags/web/resources', 'DELETE /v2/droplets'],
  );
});
