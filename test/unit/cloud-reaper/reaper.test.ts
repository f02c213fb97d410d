// The cloud reaper deployed into the emulated DigitalOcean Functions, with the real action bundles running in their
// own Node processes against the emulated clouds: no VS Code, no CLI process, only the scheduled trigger and the
// machines' own destroy-self calls. The emulator's clock is advanced; nothing waits on real time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reaperStatus, removeReaper, REAPER_TRIGGER } from '../../../src/cloud-reaper/deploy';
import { destroyCode } from '../../../src/cloud-reaper/destroy-code';
import { newRunId } from '../../../src/providers/tags';
import type { ProviderId } from '../../../src/providers/types';
import { callDestroySelf, cloud, deploy, endpoints, FAST, reaperEmulator, request, TOKEN_DO, TOKEN_HZ } from './reaper-world';

const IDS: ProviderId[] = ['digitalocean', 'hetzner'];
const MIN = 60_000;

test('deploy: a namespace, the four actions (final; destroy-self a web action behind require-whisk-auth), a trigger every period; again = in place', async (t) => {
  const emu = await reaperEmulator(t);
  const d = await deploy(emu);
  assert.equal(d.createdNamespace, true);
  assert.equal(d.label, 'thebacknd');
  assert.deepEqual(d.actions, ['thebacknd/list', 'thebacknd/destroy-old', 'thebacknd/destroy-all', 'thebacknd/destroy-self']);
  assert.equal(d.trigger.cron, '*/20 * * * *');
  assert.match(d.secret, /^[0-9a-f]{64}$/);
  const ns = emu.functions.namespaces.get(d.namespace)!;
  assert.ok(ns, 'the namespace exists');
  for (const a of d.actions) {
    const rec = ns.actions.get(a)!;
    assert.ok(rec, `${a} deployed`);
    assert.match(rec.exec.kind, /^nodejs:(1[89]|[2-9]\d)$/);
    assert.equal(rec.annotations.find((x) => x.key === 'final')?.value, true, `${a} is final`);
    const params = Object.fromEntries(rec.parameters.map((p) => [p.key, p.value]));
    assert.equal(params.digitaloceanToken, TOKEN_DO);
    assert.equal(params.hetznerToken, TOKEN_HZ);
    assert.equal(params.secret, a.endsWith('destroy-self') ? d.secret : undefined, 'the secret is bound to destroy-self only');
  }
  const self = ns.actions.get('thebacknd/destroy-self')!;
  assert.equal(self.annotations.find((x) => x.key === 'web-export')?.value, true);
  assert.equal(self.annotations.find((x) => x.key === 'require-whisk-auth')?.value, d.whiskAuth);
  assert.equal(ns.triggers.get(REAPER_TRIGGER)?.function, 'thebacknd/destroy-old');

  // Deploying again with another period: the same namespace, secret and auth; the trigger follows.
  const again = await deploy(emu, { intervalMinutes: 10 });
  assert.equal(again.namespace, d.namespace);
  assert.equal(again.createdNamespace, true, 'still known as ours');
  assert.equal(again.secret, d.secret, 'codes already handed out stay valid');
  assert.equal(again.whiskAuth, d.whiskAuth);
  assert.equal(emu.functions.namespaces.size, 1);
  assert.equal(ns.triggers.get(REAPER_TRIGGER)?.scheduled_details.cron, '*/10 * * * *');
  assert.deepEqual(emu.violations, []);
});

test('with no VS Code and no CLI running, the scheduled function destroys a machine past its deadline within one period; an Extend before the deadline keeps it', async (t) => {
  const emu = await reaperEmulator(t);
  await deploy(emu);
  const now = Date.now();
  const doomed: Record<string, string> = {};
  const extended: Record<string, string> = {};
  for (const id of IDS) {
    const p = cloud(emu, id);
    doomed[id] = (await p.create(request(id, new Date(now + 10 * MIN), newRunId()))).id;
    const kept = await p.create(request(id, new Date(now + 10 * MIN), newRunId()));
    extended[id] = kept.id;
    await p.setDeadline(kept.id, new Date(now + 90 * MIN)); // the Extend, made before the deadline
  }
  // Someone else's machine with an old deadline tag, but no thebacknd tag: never touched.
  const foreign = emu.addDroplet({ name: 'web-1', tags: ['web', 'thebacknd-deadline:20200101T000000Z'], region: 'ams3' }).id;

  const before = await emu.functions.advanceClock(9 * MIN);
  for (const id of IDS) assert.ok(await cloud(emu, id).get(doomed[id]!), `${id}: alive before its deadline (${before.length} passes ran)`);

  // The deadline passes at +10 min; one period later (+30 min) the schedule must have destroyed it.
  const fired = await emu.functions.advanceClock(21 * MIN);
  assert.ok(fired.length >= 1 && fired.every((a) => a.name === 'destroy-old' && a.cause === `trigger:${REAPER_TRIGGER}`));
  for (const id of IDS) {
    assert.equal(await cloud(emu, id).get(doomed[id]!), undefined, `${id}: destroyed within one period of its deadline`);
    assert.ok(await cloud(emu, id).get(extended[id]!), `${id}: the extended machine is alive`);
  }
  assert.ok(emu.state.droplets.get(foreign), 'the untagged droplet is untouched');
  const destroyed = fired.flatMap((a) => (a.response.result.destroyed as { name: string; provider: string }[]) ?? []);
  assert.deepEqual(destroyed.map((m) => m.provider).sort(), ['digitalocean', 'hetzner'], 'the activation names what it destroyed');

  // The extended machines go within one period of their new deadline (+90 min).
  await emu.functions.advanceClock(80 * MIN);
  for (const id of IDS) assert.equal(await cloud(emu, id).get(extended[id]!), undefined);
  assert.deepEqual(emu.violations, []);
  assert.deepEqual(emu.errors, []);
});

test("destroy-self refuses a wrong code, another machine's code and an untagged machine, destroying none; the right code destroys that machine only", async (t) => {
  const emu = await reaperEmulator(t);
  const d = await deploy(emu);
  const later = new Date(Date.now() + 60 * MIN);
  const a = { runId: newRunId() };
  const b = { runId: newRunId() };
  const ma = await cloud(emu, 'digitalocean').create(request('digitalocean', later, a.runId));
  const mb = await cloud(emu, 'hetzner').create(request('hetzner', later, b.runId));
  // A droplet carrying a run id tag but not the thebacknd tag: not ours, whatever code comes with it.
  const untaggedRun = newRunId();
  const untagged = emu.addDroplet({ name: 'not-ours', tags: [untaggedRun], region: 'ams3' }).id;
  const alive = async () => [!!(await cloud(emu, 'digitalocean').get(ma.id)), !!(await cloud(emu, 'hetzner').get(mb.id)), emu.state.droplets.has(untagged)];

  const wrong = await callDestroySelf(d, { runId: a.runId, code: '0'.repeat(64) });
  assert.equal(wrong.status, 403);
  assert.match(wrong.body.error ?? '', /does not match run id .*nothing was destroyed/);
  const others = await callDestroySelf(d, { runId: a.runId, code: destroyCode(d.secret, b.runId) });
  assert.equal(others.status, 403, "another machine's code");
  const notOurs = await callDestroySelf(d, { runId: untaggedRun, code: destroyCode(d.secret, untaggedRun) });
  assert.equal(notOurs.status, 404);
  assert.match(notOurs.body.error ?? '', /No machine tagged "thebacknd" has run id/);
  const noAuth = await callDestroySelf(d, { runId: a.runId, code: destroyCode(d.secret, a.runId) }, null);
  assert.equal(noAuth.status, 401, 'require-whisk-auth is enforced');
  const override = await callDestroySelf(d, { runId: a.runId, code: destroyCode(d.secret, a.runId), digitaloceanEndpoint: 'http://127.0.0.1:9' });
  assert.equal(override.status, 400, 'a caller cannot redirect the bound endpoint (and the token with it)');
  assert.deepEqual(await alive(), [true, true, true], 'nothing was destroyed');

  // "Only if due": not before the deadline.
  const early = await callDestroySelf(d, { runId: b.runId, code: destroyCode(d.secret, b.runId), onlyIfDue: true });
  assert.equal(early.status, 200);
  assert.equal(early.body.due, false);
  assert.deepEqual(await alive(), [true, true, true]);

  const ok = await callDestroySelf(d, { runId: a.runId, code: destroyCode(d.secret, a.runId) });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(
    ok.body.destroyed?.map((m) => m.name),
    [ma.name],
  );
  assert.deepEqual(await alive(), [false, true, true], 'that machine only');
  const replay = await callDestroySelf(d, { runId: a.runId, code: destroyCode(d.secret, a.runId) });
  assert.equal(replay.status, 404, 'a replay for a machine already gone is refused');

  // Past its deadline, the check-in destroys it even with the trigger gone.
  await removeTriggerOnly(emu, d.namespace);
  await emu.functions.advanceClock(61 * MIN);
  assert.ok(await cloud(emu, 'hetzner').get(mb.id), 'no trigger: nothing reaped it');
  const due = await callDestroySelf(d, { runId: b.runId, code: destroyCode(d.secret, b.runId), onlyIfDue: true });
  assert.equal(due.status, 200, due.text);
  assert.equal(due.body.due, true);
  assert.deepEqual(await alive(), [false, false, true]);
  assert.deepEqual(emu.violations, []);
});

async function removeTriggerOnly(emu: Awaited<ReturnType<typeof reaperEmulator>>, ns: string): Promise<void> {
  const res = await fetch(`${emu.doUrl}/functions/namespaces/${ns}/triggers/${REAPER_TRIGGER}`, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN_DO}` } });
  assert.equal(res.status, 204);
}

test('status lists the last activations with the machines destroyed and the next run; remove deletes what deploy made', async (t) => {
  const emu = await reaperEmulator(t);
  await deploy(emu);
  const m = await cloud(emu, 'hetzner').create(request('hetzner', new Date(Date.now() + 5 * MIN), newRunId()));
  await emu.functions.advanceClock(40 * MIN);
  const s = await reaperStatus({ digitaloceanToken: TOKEN_DO, endpoints: endpoints(emu), retry: FAST });
  assert.equal(s.deployed, true);
  assert.equal(s.trigger?.cron, '*/20 * * * *');
  assert.ok(s.trigger?.nextRunAt, 'the next run is known');
  assert.ok(s.activations.length >= 2);
  assert.ok(
    s.activations.some((a) => a.action === 'destroy-old' && a.ok && a.destroyed.includes(m.name)),
    JSON.stringify(s.activations),
  );

  const r = await removeReaper({ digitaloceanToken: TOKEN_DO, endpoints: endpoints(emu), retry: FAST });
  assert.equal(r.namespaceDeleted, true);
  assert.ok(r.removed.includes(`trigger ${REAPER_TRIGGER}`) && r.removed.includes('action thebacknd/destroy-self'));
  assert.equal(emu.functions.namespaces.size, 0);
  assert.equal((await reaperStatus({ digitaloceanToken: TOKEN_DO, endpoints: endpoints(emu), retry: FAST })).deployed, false);
});

test('remove keeps a namespace labelled thebacknd that deploy did not create', async (t) => {
  const emu = await reaperEmulator(t);
  const mine = emu.functions.createNamespace('fra1', 'thebacknd');
  const d = await deploy(emu);
  assert.equal(d.namespace, mine.namespace, 'reused');
  assert.equal(d.createdNamespace, false);
  const r = await removeReaper({ digitaloceanToken: TOKEN_DO, endpoints: endpoints(emu), retry: FAST });
  assert.equal(r.namespaceDeleted, false);
  assert.equal(r.keptNamespace, mine.namespace);
  assert.ok(emu.functions.namespaces.has(mine.namespace));
  assert.equal(emu.functions.namespaces.get(mine.namespace)!.actions.size, 0);
});
