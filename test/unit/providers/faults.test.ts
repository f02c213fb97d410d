// Every fault the emulator can inject, through the real clients: lists recover, creates stay exactly-once (a lost
// answer is looked up by run id before anything is sent again), rate limits are waited out as the headers say.
import { test } from 'node:test';
import { waitFor } from '../../fixtures/wait';
import assert from 'node:assert/strict';
import type { FaultKind } from '../../fixtures/emulator';
import { UserError } from '../../../src/base/errors';
import { duplicateRuns } from '../../../src/reaper/policy';
import type { CloudProvider, ProviderId } from '../../../src/providers/types';
import { assertClean, client, emulator, existing, fastRetry, IDS, posts, request, seed } from './emu';

const KINDS: FaultKind[] = [429, 500, 502, 503, 'timeout', 'reset', 'lost', 'delay'];
/** Short enough to keep the timeout cases quick, long enough for the emulator's first spec compilation. */
const TIMEOUT_MS = 1500;
const listPath = (id: ProviderId) => (id === 'digitalocean' ? '/droplets' : '/servers');
/** The 429 reset the emulator announces, and the wait it implies (Hetzner's budget refills 1 request/s). */
const RESET_SEC: Record<ProviderId, number> = { digitalocean: 3, hetzner: 7200 };
const EXPECTED_WAIT: Record<ProviderId, number> = { digitalocean: 3000, hetzner: 2000 };

/** The reset is a whole epoch second and the Date header truncates to one: allow that second. */
function assertWait(ms: number | undefined, id: ProviderId): void {
  const lo = EXPECTED_WAIT[id];
  const hi = lo + (id === 'digitalocean' ? 1000 : 1000 / 3600 + 1);
  assert.ok(ms !== undefined && ms >= lo && ms <= hi, `the wait follows the rate-limit headers: ${ms} ms, expected ${lo}–${Math.floor(hi)}`);
}

async function destroyAll(p: CloudProvider): Promise<void> {
  for (const m of (await p.list()).machines) await p.destroy(m.id);
}

/** The emulator compiles its spec validators on first use: do that before timeouts are measured. */
async function warmUp(p: CloudProvider, id: ProviderId): Promise<void> {
  await p.create(request(id));
  await destroyAll(p);
}

for (const id of IDS) {
  test(`${id}: list recovers from every fault kind`, async (t) => {
    const emu = await emulator(t);
    seed(emu, id, { name: 'thebacknd-1', tagged: true });
    seed(emu, id, { name: 'thebacknd-2', tagged: true });
    const { retry, waits } = fastRetry({ timeoutMs: TIMEOUT_MS });
    const p = client(emu, id, { retry });
    await p.list(); // warm-up: the emulator compiles its validators on first use
    for (const kind of KINDS) {
      emu.clearFaults();
      waits.length = 0;
      emu.fault({
        provider: id,
        method: 'GET',
        path: listPath(id),
        kind,
        ...(kind === 429 ? { resetAfterSec: RESET_SEC[id] } : {}),
        ...(kind === 'delay' ? { delayMs: TIMEOUT_MS + 500 } : {}),
      });
      const { machines } = await p.list();
      assert.equal(machines.length, 2, `${kind}: both machines listed`);
      assert.ok(
        emu.requests.some((r) => r.fault === kind),
        `${kind}: the fault fired`,
      );
      assert.equal(waits.length, 1, `${kind}: one retry`);
      if (kind === 429) assertWait(waits[0], id);
    }
    assertClean(emu);
  });

  test(`${id}: create is exactly-once under every fault kind, before or after the side effect`, async (t) => {
    const emu = await emulator(t);
    const p = client(emu, id, { retry: fastRetry({ timeoutMs: TIMEOUT_MS }).retry });
    await warmUp(p, id);
    const cases: { kind: FaultKind; sideEffect: boolean }[] = [
      { kind: 429, sideEffect: false },
      ...([500, 502, 503, 'timeout', 'reset'] as FaultKind[]).flatMap((kind) => [
        { kind, sideEffect: false },
        { kind, sideEffect: true },
      ]),
      { kind: 'lost', sideEffect: true },
      // A slow answer within the timeout is just an answer.
      { kind: 'delay', sideEffect: true },
    ];
    for (const { kind, sideEffect } of cases) {
      const label = `${kind}${sideEffect ? ' after the side effect' : ' before it'}`;
      emu.clearFaults();
      const before = emu.requests.length;
      const postsBefore = posts(emu, id);
      emu.fault({ provider: id, method: 'POST', path: listPath(id), kind, sideEffect, ...(kind === 'delay' ? { delayMs: 300 } : {}) });
      const m = await p.create(request(id));
      const resent = kind === 'delay' ? 0 : sideEffect ? 0 : 1;
      const withRun = (await p.list()).machines.filter((x) => x.runId === m.runId);
      assert.deepEqual(
        withRun.map((x) => x.id),
        [m.id],
        `${label}: exactly one machine for the run`,
      );
      assert.equal(existing(emu, id).length, 1, `${label}: one machine in the cloud`);
      assert.equal(posts(emu, id) - postsBefore, 1 + resent, `${label}: the create was ${resent ? '' : 'not '}sent again`);
      if (kind !== 429 && kind !== 'delay') {
        // The run id was looked up right after the failed create, before anything else was sent.
        const log = emu.requests.slice(before);
        const firstPost = log.findIndex((r) => r.method === 'POST');
        const next = log[firstPost + 1]!;
        assert.equal(next.method, 'GET', `${label}: a lookup follows the lost answer`);
        assert.ok(decodeURIComponent(next.query).includes(m.runId!), `${label}: by run id (${next.query})`);
      }
      await destroyAll(p);
    }
    assertClean(emu);
  });

  test(`${id}: a create the cloud processes only after the client gave up leaves one machine in the end`, async (t) => {
    const emu = await emulator(t);
    const p = client(emu, id, { retry: fastRetry({ timeoutMs: TIMEOUT_MS }).retry });
    await warmUp(p, id);
    const postsBefore = posts(emu, id);
    emu.fault({ provider: id, method: 'POST', path: listPath(id), kind: 'delay', delayMs: TIMEOUT_MS + 300 });
    const m = await p.create(request(id));
    // The first request reaches the cloud late: wait until the emulator has processed it (its answer undelivered).
    await waitFor('the late create to be processed', () => emu.requests.some((q) => q.fault === 'delay' && q.undelivered));
    const { machines } = await p.list();
    if (id === 'hetzner') {
      // The retry kept the name, so the late request fails on it instead of making a second server.
      assert.deepEqual(
        machines.map((x) => x.id),
        [m.id],
      );
      assert.equal(posts(emu, id) - postsBefore, 2, 'the create was sent twice');
      assert.deepEqual(existing(emu, id), [m.id], 'and made one server');
    } else {
      // DigitalOcean accepts the duplicate; it carries the run id, so destroy-old and the reaper can tell.
      const dupes = duplicateRuns(machines);
      assert.equal(machines.length, 2);
      assert.equal(dupes.length, 1);
      assert.equal(dupes[0]!.machine.runId, m.runId);
      await p.destroy(dupes[0]!.machine.id);
      assert.equal((await p.list()).machines.length, 1);
    }
    assertClean(emu);
  });

  test(`${id}: a caller's abort ends a hanging request at once, as an abort`, { timeout: 60_000 }, async (t) => {
    const emu = await emulator(t);
    const p = client(emu, id);
    await p.list();
    emu.fault({ provider: id, method: 'GET', path: listPath(id), kind: 'timeout' });
    // The client's own request timeout is 10 min: only the caller's abort can end this within the test's timeout, and
    // the error is the abort itself (a request timeout is a UserError saying the API did not answer).
    const patient = client(emu, id, { retry: fastRetry({ timeoutMs: 600_000 }).retry });
    await assert.rejects(patient.list(AbortSignal.timeout(200)), (e: unknown) => e instanceof Error && /Abort|Timeout/.test(e.name) && !(e instanceof UserError));
    await assert.rejects(p.create(request(id, { runId: 'not a run id' })), /Invalid run id/);
    assertClean(emu);
  });

  test(`${id}: a lost delete answer is still a successful destroy`, async (t) => {
    const emu = await emulator(t);
    const p = client(emu, id);
    const m = await p.create(request(id));
    emu.fault({ provider: id, method: 'DELETE', path: `${listPath(id)}/{id}`, kind: 'lost' });
    await p.destroy(m.id);
    assert.deepEqual(existing(emu, id), []);
    assertClean(emu);
  });

  test(`${id}: persistent 5xx and long rate limits end in a clear message`, async (t) => {
    const emu = await emulator(t);
    const { retry, waits } = fastRetry({ retries: 3, maxRateLimitWaitMs: 60_000 });
    const p = client(emu, id, { retry });
    emu.fault({ provider: id, method: 'GET', path: listPath(id), kind: 503, times: 10 });
    await assert.rejects(p.list(), (e: unknown) => e instanceof UserError && /API failed \(HTTP 503/.test(e.message) && /try again later/.test(e.message));
    assert.equal(emu.requests.filter((r) => r.fault === 503).length, 4, 'first try and three retries');

    emu.clearFaults();
    waits.length = 0;
    // An hour of waiting is not something to do silently: say when to come back.
    emu.fault({ provider: id, method: 'GET', path: listPath(id), kind: 429, resetAfterSec: id === 'digitalocean' ? 3600 : 3600 * 3600 });
    await assert.rejects(p.list(), (e: unknown) => e instanceof UserError && /rate limit reached: try again in 360[01] s/.test(e.message));
    assert.deepEqual(waits, []);
    assertClean(emu);
  });

  test(`${id}: rate-limit waits are measured on the provider's clock`, async (t) => {
    const emu = await emulator(t);
    emu.setClock(-2 * 3_600_000);
    const { retry, waits } = fastRetry();
    const p = client(emu, id, { retry });
    emu.fault({ provider: id, method: 'GET', path: listPath(id), kind: 429, resetAfterSec: RESET_SEC[id] });
    await p.list();
    assert.equal(waits.length, 1);
    assertWait(waits[0], id);
    assertClean(emu);
  });
}
