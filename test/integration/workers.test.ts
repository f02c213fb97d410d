// Build on Ephemeral Workers end to end, in the real extension inside real VS Code: the cloud emulator runs in this
// extension host and backs every worker with a real test host (a network namespace with sshd and Debian's Nix on a
// private /nix; root needed, as code-server runs here), and this machine's real nix builds a flake with the workers
// as its only builders. The command is driven through its scripted argument ({ installable, placement, outLink, … }),
// which skips the questions and the confirmation only.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Emulator, HostHookMachine } from '../fixtures/emulator';
import { artefact } from '../fixtures/secrets';
import { NIX_ENV, testHostHook, writeRootNixConf, type TestHostHook } from '../fixtures/testhost';
import { ip } from '../fixtures/testhost/net';
import { PLACEMENT, testFlake } from '../unit/workers/helpers';
import { registerLoginKey, startCloud, thebacknd, type Cloud } from './harness';
import { keepForScan } from './scan';
import type { WorkersOutcome } from '../../src/commands/workers';
import type { ProviderId } from '../../src/providers/types';
import type { WorkersEvent } from '../../src/workers';

suite('Build on Ephemeral Workers end to end (emulator, test hosts, nix)', function () {
  this.timeout(240_000);
  let emu: Emulator;
  let inner: TestHostHook;
  let work: string;
  /** Namespaces of every worker host created so far. */
  const namespaces: string[] = [];
  let cloud: Cloud;

  /** Machines the emulator still holds for a provider (droplets being deleted excluded). */
  const alive = (p: ProviderId): number => (p === 'hetzner' ? emu.state.servers.size : [...emu.state.droplets.values()].filter((d) => !d.deleting).length);

  async function assertNothingLeft(p: ProviderId): Promise<void> {
    assert.equal(alive(p), 0, 'no worker is left at the provider');
    assert.equal(inner.hosts.size, 0, 'every test host was deleted through the API');
    const present = (await ip('netns', 'list')).split('\n').map((l) => l.split(' ')[0]);
    for (const ns of namespaces) assert.ok(!present.includes(ns), `namespace ${ns} is gone`);
  }

  async function build(args: Record<string, unknown>): Promise<WorkersOutcome & { events: WorkersEvent[]; log: string[] }> {
    const events: WorkersEvent[] = [];
    const withKey = new Set<string>();
    const outcome = (await vscode.commands.executeCommand('thebacknd.buildOnWorkers', {
      count: 2,
      maxAgeMinutes: 30,
      // One build at a time per worker: with three leaves in flight, Nix has to use both.
      maxJobs: 1,
      pollMs: 100,
      sshTimeoutMs: 60_000,
      ...args,
      onEvent: (e: WorkersEvent) => {
        events.push(e);
        if (e.type === 'worker' && !withKey.has(e.worker.runId) && registerLoginKey(e.worker.runId, 'worker')) withKey.add(e.worker.runId);
      },
    })) as WorkersOutcome | undefined;
    assert.ok(outcome, 'the command resolves with the outcome');
    assert.ok(withKey.size > 0, 'the login keys of the workers were registered with the secrets scan');
    keepForScan([artefact(`workers build ${String(args.installable)}: outcome and events`, { outcome, events })]);
    return { ...outcome, events, log: events.flatMap((e) => (e.type === 'log' ? [e.line] : [])) };
  }

  suiteSetup(async function () {
    this.timeout(60_000);
    await thebacknd();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-workers-it-'));
    cloud = await startCloud({ suite: 'workers suite', emulator: { delays: { doActiveMs: 50, hetznerStartingMs: 25, hetznerRunningMs: 25, actionMs: 20, deleteMs: 0 } } });
    emu = cloud.emu;
    inner = testHostHook();
    // The workers' Nix runs as root without build users, as the base image's /etc/nix/nix.conf sets it up.
    emu.setHostHook({
      ...inner,
      async onCreate(m: HostHookMachine) {
        const addrs = await inner.onCreate(m);
        const h = inner.host(m.provider, m.id);
        if (h) {
          namespaces.push(h.ns);
          writeRootNixConf(h);
        }
        return addrs;
      },
    });
    cloud.setEnv('NIX_CONFIG', NIX_ENV.NIX_CONFIG);
  });

  suiteTeardown(async function () {
    this.timeout(60_000);
    await inner?.closeAll();
    await cloud?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('a flake is built on 2 Hetzner workers: the out-link holds the result here, and both workers are destroyed', async () => {
    const flake = testFlake(work, `ok-${process.pid}-${Date.now()}`);
    const outLink = path.join(work, 'result-ok');
    const o = await build({ installable: flake.installable('all'), placement: PLACEMENT.hetzner, outLink, cwd: flake.dir });
    assert.ok(o.ok, `the build succeeded: ${o.ok ? '' : `${o.message}\n${o.detail ?? ''}`}`);

    assert.equal(o.result.outLink, outLink);
    const target = fs.readlinkSync(outLink);
    assert.equal(target, o.result.outputs[0]);
    assert.match(target, /^\/nix\/store\/[a-z0-9]{32}-all$/);
    assert.equal(fs.readFileSync(outLink, 'utf8'), 'leaf a\nleaf b\nleaf c\n');

    const names = o.result.workers.map((w) => w.name).sort();
    assert.deepEqual(names, ['thebacknd-1', 'thebacknd-2']);
    const used = new Set(o.events.flatMap((e) => (e.type === 'remote-build' ? [e.worker] : [])));
    assert.deepEqual([...used].sort(), names, 'each worker built at least one derivation');
    assert.ok(!o.log.some((l) => /^building '\/nix\/store\/[^']+'\.\.\.$/.test(l)), 'nothing was built locally');
    assert.ok(
      o.result.workers.every((w) => w.state === 'destroyed'),
      'the result says every worker was destroyed',
    );
    assert.match(o.result.cost.text, /^2 workers for up to \d+ (s|min): €0\.0120 \(Hetzner bills each started hour\)\.$/);

    // Every server the build created went through the API's delete, and its host with it.
    const created = emu.requests.filter((r) => r.method === 'POST' && r.path === '/v1/servers' && r.status === 201);
    assert.equal(created.length, 2, 'two servers were created');
    await assertNothingLeft('hetzner');
  });

  test("a failing derivation fails the build with Nix's reason, and both DigitalOcean workers are destroyed", async () => {
    const flake = testFlake(work, `fail-${process.pid}-${Date.now()}`);
    const outLink = path.join(work, 'result-fail');
    const o = await build({ installable: flake.installable('fails'), placement: PLACEMENT.digitalocean, outLink, cwd: flake.dir });
    assert.equal(o.ok, false, 'the build failed');
    assert.ok(!o.ok);
    assert.equal(o.cancelled, false);
    assert.match(o.message, /^Building path:.*#fails on the workers failed: build of '\/nix\/store\/[a-z0-9]{32}-fails\.drv' on thebacknd-\d \(\d+\.\d+\.\d+\.\d+\) failed/);
    assert.match(o.message, /The workers were destroyed\./);
    assert.match(o.detail ?? '', /fails> deliberate failure/);
    assert.ok(o.log.includes('fails> deliberate failure'), 'the builder output was streamed');
    assert.ok(
      o.events.some((e) => e.type === 'stage' && e.stage === 'cleanup'),
      'the build cleaned up',
    );
    const workers = new Set(o.events.flatMap((e) => (e.type === 'worker' ? [e.worker.runId] : [])));
    assert.equal(workers.size, 2, 'two workers were started');
    assert.equal(fs.existsSync(outLink), false, 'no out-link');
    await assertNothingLeft('digitalocean');
  });

  test('every request the extension sent was on-spec', () => {
    assert.deepEqual(emu.violations, []);
    assert.deepEqual(emu.errors, []);
  });
});
