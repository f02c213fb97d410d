// The run state machine against the emulator through the real provider clients. The SSH-side ports are stand-ins
// here (they are tested for real in test/unit/ssh and end to end in the Run Toplevel suite); what is asserted is
// what the user pays for: which machines exist afterwards, with which tags, and what the run reported.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmulator } from '../../fixtures/emulator';
import { createProvider } from '../../../src/providers';
import type { ProviderId } from '../../../src/providers/types';
import { runToplevel } from '../../../src/run/orchestrate';
import type { BootOutcome, RunEvent, RunPorts, RunRequest, Stage } from '../../../src/run/types';

const TOKEN = 'test-token-0123456789abcdef';
const emulatorP = startEmulator({ delays: { doActiveMs: 60, hetznerStartingMs: 30, hetznerRunningMs: 30, deleteMs: 0 } });
const keyRoots: string[] = [];
after(async () => {
  await (await emulatorP).close();
  for (const dir of keyRoots) fs.rmSync(dir, { recursive: true, force: true });
});

function ports(provider: ProviderId, over: Partial<RunPorts> & { bootOutcome?: BootOutcome } = {}) {
  return emulatorP.then((emu) => {
    const keysRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-run-'));
    keyRoots.push(keysRoot);
    const p: RunPorts = {
      provider: createProvider(provider, {
        token: TOKEN,
        endpoint: provider === 'digitalocean' ? emu.doUrl : emu.hetznerUrl,
        retry: { baseDelayMs: 5, maxDelayMs: 20 },
      }),
      build: async () => {
        throw new Error('not used');
      },
      sign: async () => undefined,
      push: async () => undefined,
      newKeys: async (runId) => {
        const dir = path.join(keysRoot, runId);
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        return { dir, loginPrivateKeyPath: path.join(dir, 'login'), loginPublicKey: 'ssh-ed25519 AAAA login', hostPrivateKey: 'PRIVATE', hostPublicKey: 'ssh-ed25519 AAAA host' };
      },
      removeKeys: async (runId) => fs.rmSync(path.join(keysRoot, runId), { recursive: true, force: true }),
      userData: ({ storePath }) => JSON.stringify({ version: 1, toplevel: storePath ?? null }),
      waitSsh: async () => undefined,
      followBoot: async () => over.bootOutcome ?? { ok: true },
      sleep: (ms, signal) =>
        new Promise((resolve, reject) => {
          const t = setTimeout(resolve, Math.min(ms, 20));
          signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
        }),
      ...over,
    };
    return { emu, p, keysRoot };
  });
}

const images: Partial<Record<ProviderId, string>> = {};
async function baseImage(provider: ProviderId): Promise<string> {
  const { p } = await ports(provider);
  images[provider] ??= (await p.provider.images()).find((i) => i.name === 'thebacknd')?.id;
  assert.ok(images[provider], 'the emulator offers the thebacknd base image');
  return images[provider]!;
}

const request = (provider: ProviderId, over: Partial<RunRequest> = {}): RunRequest => ({
  payload: { kind: 'toplevel', storePath: '/nix/store/00000000000000000000000000000000-nixos-system-test' },
  placement:
    provider === 'digitalocean'
      ? { provider, region: 'ams3', size: 's-1vcpu-1gb', image: images[provider]! }
      : { provider, region: 'fsn1', size: 'cx22', image: images[provider]! },
  maxAgeMinutes: 60,
  transfer: 'cache',
  cachePrivate: false,
  onFailure: 'destroy',
  pollMs: 10,
  ...over,
});

async function live(provider: ProviderId) {
  const { p } = await ports(provider);
  return (await p.provider.list()).machines.filter((m) => m.status !== 'destroying');
}

for (const provider of ['digitalocean', 'hetzner'] as const) {
  test(`${provider}: the base image is there`, async () => void (await baseImage(provider)));

  test(`${provider}: a run creates one tagged machine with a deadline, and reports the stages in order`, async () => {
    const { p } = await ports(provider);
    const events: RunEvent[] = [];
    const before = (await live(provider)).length;
    const result = await runToplevel(p, request(provider), new AbortController().signal, (e) => events.push(e));
    const stages = events.filter((e) => e.type === 'stage').map((e) => (e as { stage: Stage }).stage);
    assert.deepEqual(stages, ['keys', 'create', 'wait-running', 'wait-ssh', 'boot', 'ready']);
    assert.equal(result.machine.status, 'running');
    assert.ok(result.machine.ipv4 || result.machine.ipv6);
    const mine = (await live(provider)).filter((m) => m.runId === result.machine.runId);
    assert.equal(mine.length, 1);
    assert.match(mine[0]!.name, /^thebacknd-\d+$/);
    const deadline = Date.parse(mine[0]!.deadline ?? '');
    assert.ok(Math.abs(deadline - (Date.parse(mine[0]!.createdAt) + 60 * 60_000)) < 5 * 60_000, 'deadline ≈ created + 60 min');
    assert.equal((await live(provider)).length, before + 1);
    await p.provider.destroy(result.machine.id);
  });

  for (const at of ['create', 'wait-running', 'wait-ssh', 'boot'] as const) {
    test(`${provider}: cancelling during ${at} leaves no machine and no keys`, async () => {
      const ctl = new AbortController();
      const hang = (_ip: string, _k: unknown, signal: AbortSignal) =>
        new Promise<never>((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
      const { p, keysRoot } = await ports(provider, at === 'wait-ssh' ? { waitSsh: hang } : at === 'boot' ? { followBoot: hang } : {});
      const before = new Set((await live(provider)).map((m) => m.id));
      let runId = '';
      const run = runToplevel(p, request(provider), ctl.signal, (e) => {
        if (e.type === 'machine') runId = e.machine.runId ?? '';
        if (e.type === 'stage' && e.stage === at) setTimeout(() => ctl.abort(new DOMException('cancelled', 'AbortError')), at === 'create' ? 0 : 5);
      });
      await assert.rejects(run, (err: Error) => err.name === 'AbortError');
      const leftover = (await live(provider)).filter((m) => !before.has(m.id));
      assert.deepEqual(
        leftover.map((m) => m.name),
        [],
        'no machine left running',
      );
      assert.deepEqual(fs.readdirSync(keysRoot), [], 'keys removed');
      if (at !== 'create') assert.match(runId, /^thebacknd-[0-9a-f-]{36}$/);
    });
  }

  test(`${provider}: an agent failure destroys the machine, or keeps it tagged when asked`, async () => {
    const failing = { bootOutcome: { ok: false, reason: 'path /nix/store/…-x is not in the cache' } };
    const { p } = await ports(provider, failing);
    const before = new Set((await live(provider)).map((m) => m.id));
    await assert.rejects(
      runToplevel(p, request(provider), new AbortController().signal, () => {}),
      /not in the cache/,
    );
    assert.equal((await live(provider)).filter((m) => !before.has(m.id)).length, 0);

    const kept = await ports(provider, failing);
    await assert.rejects(
      runToplevel(kept.p, request(provider, { onFailure: 'keep' }), new AbortController().signal, () => {}),
      /not in the cache/,
    );
    const left = (await live(provider)).filter((m) => !before.has(m.id));
    assert.equal(left.length, 1);
    assert.ok(left[0]!.deadline && left[0]!.runId, 'the kept machine still carries its deadline and run id');
    await kept.p.provider.destroy(left[0]!.id);
  });
}

test('a lost create answer still gives exactly one machine, and the run goes on with it', async () => {
  await baseImage('hetzner');
  const { emu, p } = await ports('hetzner');
  const before = new Set((await live('hetzner')).map((m) => m.id));
  emu.fault({ provider: 'hetzner', method: 'POST', path: '/servers', kind: 'lost' });
  const result = await runToplevel(p, request('hetzner'), new AbortController().signal, () => {});
  const created = (await live('hetzner')).filter((m) => !before.has(m.id));
  assert.deepEqual(
    created.map((m) => m.id),
    [result.machine.id],
  );
  await p.provider.destroy(result.machine.id);
  assert.deepEqual(emu.violations, []);
});

test('a program that ends before SSH answers is a finished run; any other payload powering off is an error', async () => {
  await baseImage('hetzner');
  const binary = { kind: 'binary', storePath: '/nix/store/00000000000000000000000000000000-job', binary: '/nix/store/00000000000000000000000000000000-job/bin/job' } as const;
  for (const payload of [binary, { kind: 'bare' } as const]) {
    const { emu, p } = await ports('hetzner');
    const run = runToplevel(p, request('hetzner', { payload }), new AbortController().signal, (e) => {
      if (e.type === 'machine') emu.powerOff('hetzner', Number(e.machine.id));
    });
    if (payload.kind === 'binary') {
      const result = await run;
      assert.deepEqual(result.outcome, { ok: true, poweredOff: true });
      await p.provider.destroy(result.machine.id);
    } else {
      await assert.rejects(run, /powered off or disappeared while it was starting/);
    }
  }
  assert.equal((await live('hetzner')).filter((m) => m.status === 'off').length, 0, 'nothing left powered off');
});

// Overlap (issue #16). Each stand-in below waits on what the overlap promises (keys generated while building, the
// machine created while pushing); a sequential run never meets that condition, and the test fails at its timeout.
const TOP = '/nix/store/11111111111111111111111111111111-nixos-system-overlap';
const configuration = { kind: 'configuration', flakeRef: '/flake', name: 'overlap' } as const;

function signalled(): { promise: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const promise = new Promise<void>((r) => (fire = r));
  return { promise, fire };
}

const hangUntilAbort = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

for (const provider of ['digitalocean', 'hetzner'] as const) {
  test(`${provider}: keys are generated while building, and the machine is created while the closure is pushed`, { timeout: 60_000 }, async () => {
    await baseImage(provider);
    const keysStarted = signalled();
    const created = signalled();
    const order: string[] = [];
    const base = await ports(provider);
    const { p } = await ports(provider, {
      newKeys: async (runId) => (keysStarted.fire(), base.p.newKeys(runId)),
      build: async () => {
        await keysStarted.promise;
        order.push('build ends');
        return TOP;
      },
      push: async () => {
        await created.promise;
        order.push('push ends');
      },
      followBoot: async () => (order.push('boot followed'), { ok: true }),
    });
    const events: RunEvent[] = [];
    const result = await runToplevel(p, request(provider, { payload: configuration }), new AbortController().signal, (e) => {
      events.push(e);
      if (e.type === 'machine') {
        order.push('machine');
        created.fire();
      }
      if (e.type === 'stage' && e.stage === 'ready') order.push('ready');
    });
    const stages = events.flatMap((e) => (e.type === 'stage' ? [e.stage] : []));
    assert.deepEqual(stages, ['build', 'sign', 'push', 'keys', 'create', 'wait-running', 'wait-ssh', 'boot', 'ready']);
    assert.equal(order[0], 'build ends');
    assert.ok(order.indexOf('machine') < order.indexOf('push ends'), `created before the push ended: ${order.join(', ')}`);
    assert.ok(order.indexOf('push ends') < order.indexOf('ready'), 'ready only once the closure is in the cache');
    assert.equal(result.storePath, TOP);
    await p.provider.destroy(result.machine.id);
  });

  for (const at of ['build', 'create', 'wait-running', 'boot'] as const) {
    test(`${provider}: cancelling during ${at} while the push runs leaves no machine and no keys, and stops the push`, { timeout: 60_000 }, async () => {
      await baseImage(provider);
      const ctl = new AbortController();
      let pushSettled = false;
      const { p, keysRoot } = await ports(provider, {
        build: async (_i, signal) => (at === 'build' ? hangUntilAbort(signal) : TOP),
        push: (_s, signal) => hangUntilAbort(signal).finally(() => (pushSettled = true)),
        ...(at === 'boot' ? { followBoot: (_ip: string, _k: unknown, signal: AbortSignal) => hangUntilAbort(signal) } : {}),
      });
      const before = new Set((await live(provider)).map((m) => m.id));
      const run = runToplevel(p, request(provider, { payload: configuration }), ctl.signal, (e) => {
        if (e.type === 'stage' && e.stage === at) setTimeout(() => ctl.abort(new DOMException('cancelled', 'AbortError')), at === 'create' ? 0 : 5);
      });
      await assert.rejects(run, (err: Error) => err.name === 'AbortError');
      if (at !== 'build') assert.ok(pushSettled, 'the push was stopped before the run returned');
      assert.deepEqual(
        (await live(provider)).filter((m) => !before.has(m.id)).map((m) => m.name),
        [],
        'no machine left running',
      );
      assert.deepEqual(fs.readdirSync(keysRoot), [], 'keys removed');
    });
  }

  test(`${provider}: a push that fails after the machine was created destroys it and says why`, { timeout: 60_000 }, async () => {
    await baseImage(provider);
    const created = signalled();
    const { p, keysRoot } = await ports(provider, {
      build: async () => TOP,
      push: async () => {
        await created.promise;
        throw new Error('the bucket refused the upload');
      },
      followBoot: (_ip, _k, signal) => hangUntilAbort(signal), // the agent would wait for the narinfo
    });
    const before = new Set((await live(provider)).map((m) => m.id));
    const stages: Stage[] = [];
    await assert.rejects(
      runToplevel(p, request(provider, { payload: configuration }), new AbortController().signal, (e) => {
        if (e.type === 'machine') created.fire();
        if (e.type === 'stage') stages.push(e.stage);
      }),
      /the bucket refused the upload/,
    );
    assert.equal(stages.at(-1), 'cleanup');
    assert.deepEqual(
      (await live(provider)).filter((m) => !before.has(m.id)).map((m) => m.name),
      [],
      'the machine was destroyed',
    );
    assert.deepEqual(fs.readdirSync(keysRoot), [], 'keys removed');
  });
}
