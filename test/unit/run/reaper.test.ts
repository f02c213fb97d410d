// Runs whose machines die without any client: the cloud reaper deployed into the emulated DigitalOcean Functions,
// machines that are real test hosts running the boot agent. A program run's machine destroys itself through
// destroy-self as soon as the program ends (destroyed, not powered off: the bill stops there); with the reaper
// unreachable it powers off instead; a machine past its deadline is destroyed by its own check-in ("only if due")
// while the scheduled trigger is down.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUserData } from '../../../src/agent/user-data';
import { deployReaper, REAPER_TRIGGER, type ReaperDeployment } from '../../../src/cloud-reaper/deploy';
import { destroyCode } from '../../../src/cloud-reaper/destroy-code';
import type { ReaperLink } from '../../../src/cloud-reaper/link';
import type { ProviderId } from '../../../src/providers/types';
import { runToplevel, type Payload, type PortsOptions, type RunEvent } from '../../../src/run';
import type { ActivationRecord } from '../../fixtures/emulator';
import { exposeToHosts, type Exposed } from '../../fixtures/testhost/net';
import { runRequest, startCacheWorld, worldPorts, type CacheWorld } from './cache-world';
import { runIds, TOKEN, until, writeFlake, type TestFlake, type World } from './world';

const TIMEOUT = 120_000;
let cw: CacheWorld;
let w: World;
let flake: TestFlake;
let reaper: ReaperDeployment;
let exposed: Exposed;
let link: ReaperLink;
let jobPath: string;

before(async () => {
  // Hosts check in every second here (the image: every 5 minutes).
  cw = await startCacheWorld({ checkinMs: 1000 });
  w = cw.w;
  flake = writeFlake(w.dir, `reaper-${process.pid}-${Date.now()}`);
  reaper = await deployReaper({
    digitaloceanToken: TOKEN,
    hetznerToken: TOKEN,
    endpoints: { digitalocean: w.emu.doUrl, hetzner: w.emu.hetznerUrl },
    intervalMinutes: 20,
    maxAgeMinutes: 60,
    retry: { retries: 2, baseDelayMs: 5, maxDelayMs: 20 },
  });
  // Test hosts live in network namespaces: they reach the emulator through the services gateway, as they reach the
  // cache. Only the host part of the URL changes.
  exposed = await exposeToHosts(w.emu.port);
  link = { url: reaper.destroySelfUrl.replace(w.emu.functions.apiHost, exposed.url), whiskAuth: reaper.whiskAuth, secret: reaper.secret };
  const p = ports('hetzner');
  const signal = new AbortController().signal;
  jobPath = await p.build(`path:${flake.dir}#packages.x86_64-linux.job`, signal, () => undefined);
  await p.sign(jobPath, signal);
  await p.push(jobPath, signal, () => undefined);
});

after(async () => {
  await cw?.close();
  await exposed?.close();
});

function ports(provider: ProviderId, over: Partial<PortsOptions> = {}) {
  return worldPorts(cw, provider, flake.dir, { powerPollMs: 200, ...over });
}

/** The ports, recording the user-data each machine gets (the emulator forgets it with the machine). */
function recordingPorts(provider: ProviderId, over: Partial<PortsOptions>) {
  const real = ports(provider, over);
  const userData: string[] = [];
  return {
    userData,
    ports: { ...real, userData: (i: Parameters<typeof real.userData>[0]) => (userData.push(real.userData(i)), userData.at(-1)!) },
  };
}

const request = runRequest;

/** Whether a destroy-self activation's answer names that machine among those it destroyed (names are reused). */
function destroyedBy(a: ActivationRecord, m: { provider: string; id: string }): boolean {
  const body = a.response.result.body as { destroyed?: { provider: string; id: string }[] } | undefined;
  return !!body?.destroyed?.some((d) => d.provider === m.provider && d.id === m.id);
}

const events = () => {
  const all: RunEvent[] = [];
  return { all, emit: (e: RunEvent) => void all.push(e) };
};

for (const provider of ['hetzner', 'digitalocean'] as const) {
  test(`${provider}: a program run destroys its machine as soon as the program ends, through destroy-self (no power-off, no reaper pass)`, { timeout: TIMEOUT }, async (t) => {
    const ids = runIds(t, w);
    const { ports: p, userData } = recordingPorts(provider, { reaper: link });
    const runId = ids.next();
    const result = await runToplevel(p, request(provider, { kind: 'binary', storePath: jobPath, binary: 'bin/job' }), new AbortController().signal, events().emit, runId);
    assert.deepEqual(result.outcome, { ok: true, poweredOff: true });

    // User-data: this machine's own code and the URL, never the secret or a token.
    const data = parseUserData(userData[0]!);
    assert.deepEqual(data.reaper, { url: link.url, auth: reaper.whiskAuth, runId, code: destroyCode(reaper.secret, runId) });
    assert.ok(!userData[0]!.includes(reaper.secret) && !userData[0]!.includes(TOKEN));

    await until('the machine destroyed', async () => ((await w.provider(provider).get(result.machine.id)) ? undefined : true));
    // The machine dies during the call (its agent's answer line dies with it): the emulator's activation says who.
    const host = w.hosts.get(`${provider}:${result.machine.id}`)!;
    assert.equal(host.poweredOff, false, 'destroyed while running: it never sat powered off, billing');
    // Recorded once the action returns, which is after the machine is gone.
    const activation = await until('the destroy-self activation', async () =>
      w.emu.functions.activations.find((a) => a.name === 'destroy-self' && a.cause === 'web' && destroyedBy(a, result.machine)),
    );
    assert.equal((activation.response.result.body as { due?: boolean }).due, undefined, 'destroyed at once, not as a due check-in');
    assert.ok(!JSON.stringify(activation).includes(TOKEN) && !JSON.stringify(activation).includes(reaper.secret), 'no token or secret in the activation');
  });
}

test('with the reaper unreachable, a program run falls back to powering off', { timeout: TIMEOUT }, async (t) => {
  const ids = runIds(t, w);
  const broken = { ...link, url: `${exposed.url}/api/v1/web/fn-00000000-0000-0000-0000-000000000000/thebacknd/destroy-self` };
  const result = await runToplevel(
    ports('hetzner', { reaper: broken }),
    request('hetzner', { kind: 'binary', storePath: jobPath, binary: 'bin/job' }),
    new AbortController().signal,
    events().emit,
    ids.next(),
  );
  assert.deepEqual(result.outcome, { ok: true, poweredOff: true });
  await until('the machine off', async () => ((await w.provider('hetzner').get(result.machine.id))?.status === 'off' ? true : undefined));
  const host = w.hosts.get(`hetzner:${result.machine.id}`)!;
  assert.ok(
    host.agentLog.some((l) => /stage=destroy-self mode=now http=404 result=refused/.test(l)),
    host.agentLog.join('\n'),
  );
});

// Last: it moves the emulator's clock and removes the trigger.
test('with the scheduled trigger down, a machine past its deadline is destroyed by its own check-in', { timeout: TIMEOUT }, async (t) => {
  const ids = runIds(t, w);
  const res = await fetch(`${w.emu.doUrl}/functions/namespaces/${reaper.namespace}/triggers/${REAPER_TRIGGER}`, {
    method: 'DELETE',
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(res.status, 204);
  const configuration: Payload = { kind: 'configuration', flakeRef: flake.dir, name: 'e2e' };
  const result = await runToplevel(
    ports('digitalocean', { reaper: link }),
    request('digitalocean', configuration, { maxAgeMinutes: 10 }),
    new AbortController().signal,
    events().emit,
    ids.next(),
  );
  const host = w.hosts.get(`digitalocean:${result.machine.id}`)!;
  await until('a check-in that found it not due', async () => (host.agentLog.some((l) => /stage=destroy-self mode=due http=200 result=not-due/.test(l)) ? true : undefined));
  assert.ok(await w.provider('digitalocean').get(result.machine.id), 'alive before its deadline');
  await w.emu.functions.advanceClock(11 * 60_000);
  await until('the machine destroyed by its check-in', async () => ((await w.provider('digitalocean').get(result.machine.id)) ? undefined : true));
  const activation = await until('the destroy-self activation', async () => w.emu.functions.activations.find((a) => a.name === 'destroy-self' && destroyedBy(a, result.machine)));
  assert.equal((activation.response.result.body as { due?: boolean }).due, true, 'destroyed as due by a check-in');
  assert.deepEqual(w.emu.errors, []);
});
