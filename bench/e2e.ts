// Run Toplevel end to end, command → ready, in one run for both flows on the same kind of closure and hosts:
// - Thebacknd: src/run as the extension runs it (keys and the cloud's clock while building, the machine created
//   while the closure is pushed, the running wait paced to the provider, SSH seen by 100 ms TCP probes);
// - the seeds' flow: build, sign, push, then keys and create, poll every 2 s until running, wait 5 s, then SSH
//   retried every 1 s, then the boot log — the same ports, one after another.
// Real parts: this machine's Nix builds a fresh flake per run (nothing cached), the push goes to s3rver, the cloud
// is the emulator, and each machine is a test host (network namespace, metadata service, the boot agent, sshd)
// that substitutes the closure from the cache and switches to it.
//
// The providers' boot is modelled (the figures below, overridable with BENCH_BOOT="do:active,ssh;hz:running,ssh"
// in seconds): the emulator's delays say when the API reports the machine running, the test host's boot delay
// when its agent (then sshd) starts. They are assumptions, stated in the README with the ratio:
//   Hetzner Cloud (cx22): `running` ≈ 10 s after the create request, SSH accepting ≈ 15 s;
//   DigitalOcean (s-1vcpu-1gb): `active` ≈ 30 s, SSH accepting ≈ 40 s.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { DEFAULTS, type Settings } from '../src/base/settings';
import { generateSigningKey } from '../src/nix/sign';
import { createProvider } from '../src/providers';
import type { CloudProvider, Machine, ProviderId } from '../src/providers/types';
import { createRunPorts, runToplevel, type RunEvent, type RunPorts, type RunRequest } from '../src/run';
import { newRunId } from '../src/run/orchestrate';
import { removeMachineKeys, requireMachineKeys } from '../src/ssh/keys';
import { sshTargetFor, waitForSsh } from '../src/ssh/session';
import { startEmulator } from '../test/fixtures/emulator';
import { NIX_ENV, startHostCache, testHostHook } from '../test/fixtures/testhost';
import { figure, ratio, type Figure } from './figures';

const TOKEN = 'bench-token-0123456789abcdef';
const MiB = 1024 * 1024;

export interface BootModel {
  runningS: number;
  sshS: number;
}

export function bootModel(env = process.env.BENCH_BOOT): Record<ProviderId, BootModel> {
  const model: Record<ProviderId, BootModel> = { hetzner: { runningS: 10, sshS: 15 }, digitalocean: { runningS: 30, sshS: 40 } };
  for (const part of (env ?? '').split(';').filter(Boolean)) {
    const m = /^(do|hz):(\d+(?:\.\d+)?),(\d+(?:\.\d+)?)$/.exec(part.trim());
    if (!m) throw new Error(`BENCH_BOOT: "${part}" is not do|hz:<running s>,<ssh s>`);
    model[m[1] === 'do' ? 'digitalocean' : 'hetzner'] = { runningS: Number(m[2]), sshS: Number(m[3]) };
  }
  return model;
}

interface Interval {
  name: string;
  start: number;
  end: number;
}

/** Each port call as an interval (ms since the command), so the critical path can be read back. */
function instrument(p: RunPorts, t0: () => number, out: Interval[]): RunPorts {
  const timed =
    <A extends unknown[], R>(name: string, fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      const start = performance.now() - t0();
      try {
        return await fn(...a);
      } finally {
        out.push({ name, start, end: performance.now() - t0() });
      }
    };
  let listed = false;
  const provider: CloudProvider = Object.create(p.provider) as CloudProvider;
  provider.create = timed('create', p.provider.create.bind(p.provider));
  if (p.provider.prepareCreate) provider.prepareCreate = p.provider.prepareCreate.bind(p.provider); // its cache is the client's
  provider.list = (signal) => {
    if (listed) return p.provider.list(signal);
    listed = true;
    return timed('clock', p.provider.list.bind(p.provider))(signal);
  };
  return {
    ...p,
    provider,
    build: timed('build', p.build),
    sign: timed('sign', p.sign),
    push: timed('push', p.push),
    newKeys: timed('keys', p.newKeys),
    waitSsh: timed('wait-ssh', p.waitSsh),
    followBoot: timed('boot', p.followBoot),
  };
}

/** Walks back from the end: the interval that ended last before each point is the one the run waited on. */
export function criticalPath(intervals: readonly Interval[], end: number): { path: Interval[]; idleMs: number } {
  const path: Interval[] = [];
  let t = end;
  let idle = 0;
  const left = [...intervals];
  for (;;) {
    const candidates = left.filter((i) => i.end <= t + 1 && i.start < t);
    if (!candidates.length) break;
    const next = candidates.reduce((a, b) => (b.end > a.end ? b : a));
    idle += Math.max(0, t - next.end);
    path.unshift(next);
    left.splice(left.indexOf(next), 1);
    t = next.start;
  }
  return { path, idleMs: idle + Math.max(0, t) };
}

function flake(parent: string, nonce: string, paths: number, bytesEach: number): string {
  const dir = path.join(parent, `flake-${nonce}`);
  fs.mkdirSync(dir, { recursive: true });
  const data = Array.from(
    { length: paths },
    (_, i) => `d${i} = mk "bench-data-${i}" "mkdir -p $out; head -c ${bytesEach} /dev/urandom > $out/blob; echo ${nonce} > $out/nonce";`,
  ).join('\n    ');
  const refs = Array.from({ length: paths }, (_, i) => `echo \${d${i}} >> $out/refs`).join('\n      ');
  fs.writeFileSync(
    path.join(dir, 'flake.nix'),
    String.raw`{
  outputs = { self }: let
    mk = name: script: derivation { inherit name; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" script ]; PATH = "/bin:/usr/bin"; };
    ${data}
    toplevel = mk "nixos-system-bench-${nonce}" ''
      mkdir -p $out/bin
      ${refs}
      printf '#!/bin/sh\nln -sfn %s /run/current-system\necho switched\n' $out > $out/bin/switch-to-configuration
      chmod +x $out/bin/switch-to-configuration
    '';
  in { nixosConfigurations.bench.config.system.build.toplevel = toplevel; };
}
`,
  );
  return dir;
}

export async function benchRunToplevel(repeats: number, providers: ProviderId[] = ['hetzner', 'digitalocean']): Promise<Figure[]> {
  const model = bootModel();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-bench-e2e-'));
  const emu = await startEmulator({
    delays: {
      doActiveMs: model.digitalocean.runningS * 1000,
      // The emulator reports Hetzner `running` at starting + running after the create.
      hetznerStartingMs: (model.hetzner.runningS * 1000) / 2,
      hetznerRunningMs: (model.hetzner.runningS * 1000) / 2,
      actionMs: 20,
      deleteMs: 0,
    },
  });
  const hook = testHostHook({ bootDelayMs: (m) => model[m.provider].sshS * 1000 });
  emu.setHostHook(hook);
  const cache = await startHostCache({ bucket: 'bench-e2e' });
  const figures: Figure[] = [];
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, ...NIX_ENV, XDG_CACHE_HOME: path.join(dir, 'xdg-cache') };
    const key = await generateSigningKey('bench-e2e-1', path.join(dir, 'keys'), { env });
    const settings: Settings = { ...DEFAULTS, cache: { ...cache.s3.cache({ signingKeyFile: key.secretKeyFile }), publicUrl: cache.url } };
    const keysRoot = path.join(dir, 'storage');
    for (const id of providers) {
      const provider = createProvider(id, { token: TOKEN, endpoint: id === 'digitalocean' ? emu.doUrl : emu.hetznerUrl });
      const image = (await provider.images()).find((i) => i.name === 'thebacknd')?.id;
      if (!image) throw new Error(`the emulator offers no thebacknd image on ${id}`);
      const placement = id === 'hetzner' ? { provider: id, region: 'fsn1', size: 'cx22', image } : { provider: id, region: 'ams3', size: 's-1vcpu-1gb', image };
      // Warm-up, untimed: the first key pair, listing and project-key lookup of the process load modules and fill
      // caches; without it they land on whichever flow runs first (ours), beside its build.
      const warm = createRunPorts({ provider, settings, keysRoot, cacheCredentials: cache.s3.credentials, nix: { env } });
      const warmId = newRunId();
      await warm.newKeys(warmId);
      await warm.removeKeys(warmId);
      await provider.list();
      await provider.prepareCreate?.();
      const ours: number[] = [];
      const seeds: number[] = [];
      let lastOurs: { path: Interval[]; all: Interval[]; idleMs: number } | undefined;
      let lastSeeds: { path: Interval[]; all: Interval[]; idleMs: number } | undefined;
      for (let r = 0; r < repeats; r++) {
        for (const flow of ['ours', 'seeds'] as const) {
          const nonce = `${id}-${flow}-${r}-${Date.now()}`;
          const flakeDir = flake(dir, nonce, 4, 6 * MiB);
          const ports = createRunPorts({
            provider,
            settings,
            keysRoot,
            cacheCredentials: cache.s3.credentials,
            flakeDir,
            nix: { env },
            sshTimeoutMs: 180_000,
            ...(flow === 'seeds' ? { sshRetryMs: 1_000 } : {}),
          });
          const req: RunRequest = {
            payload: { kind: 'configuration', flakeRef: flakeDir, name: 'bench' },
            placement,
            maxAgeMinutes: 30,
            transfer: 'cache',
            cachePrivate: false,
            onFailure: 'destroy',
          };
          const runId = newRunId();
          const intervals: Interval[] = [];
          const start = performance.now();
          const p = instrument(ports, () => start, intervals);
          let machine: Machine | undefined;
          try {
            if (flow === 'ours') {
              const stages: Partial<Record<string, number>> = {};
              const result = await runToplevel(
                p,
                req,
                new AbortController().signal,
                (e: RunEvent) => {
                  if (e.type === 'stage') stages[e.stage] = performance.now() - start;
                },
                runId,
              );
              machine = result.machine;
              intervals.push({ name: 'wait-running', start: stages['wait-running']!, end: stages['wait-ssh']! });
            } else {
              machine = await seedsFlow(p, req, runId, keysRoot, intervals, start);
            }
            const total = performance.now() - start;
            const cp = criticalPath(intervals, total);
            (flow === 'ours' ? ours : seeds).push(total / 1000);
            if (flow === 'ours') lastOurs = { ...cp, all: intervals };
            else lastSeeds = { ...cp, all: intervals };
          } finally {
            await provider.destroyByRunId(runId).catch(() => 0);
            await removeMachineKeys(keysRoot, runId).catch(() => undefined);
            void machine;
          }
        }
      }
      const group = `Run Toplevel (${id})`;
      const boot = `modelled boot: running ${model[id].runningS} s, SSH ${model[id].sshS} s`;
      const seedFig = figure(group, "command → ready, seeds' flow", 's', seeds, 'build, push, create, 2 s polls, SSH after 5 s then 1 s');
      figures.push(ratio(figure(group, 'command → ready, Thebacknd', 's', ours, boot), seedFig, "seeds' flow"), seedFig);
      for (const [who, cp] of [
        ['Thebacknd', lastOurs],
        ["seeds' flow", lastSeeds],
      ] as const) {
        if (!cp) continue;
        const onPath = new Set(cp.path);
        for (const i of [...cp.all].sort((a, b) => a.start - b.start)) {
          figures.push(
            figure(
              group,
              `${who}: ${i.name}`,
              's',
              [(i.end - i.start) / 1000],
              `+${(i.start / 1000).toFixed(2)} → +${(i.end / 1000).toFixed(2)} s${onPath.has(i) ? ', critical path' : ''}`,
            ),
          );
        }
        figures.push(figure(group, `${who}: idle on the critical path`, 's', [cp.idleMs / 1000], 'sleeps and gaps no stage accounts for'));
      }
    }
    return figures;
  } finally {
    await hook.closeAll();
    await emu.close();
    await cache.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The seeds' flow with the same ports: every stage after the previous one, fixed waits. */
async function seedsFlow(p: RunPorts, req: RunRequest, runId: string, keysRoot: string, intervals: Interval[], start: number): Promise<Machine> {
  const signal = new AbortController().signal;
  const noop = () => undefined;
  if (req.payload.kind !== 'configuration') throw new Error('the seeds flow builds a configuration');
  const top = await p.build(`${req.payload.flakeRef}#nixosConfigurations.${req.payload.name}.config.system.build.toplevel`, signal, noop);
  await p.sign(top, signal);
  await p.push(top, signal, noop);
  const keys = await p.newKeys(runId);
  const { serverTime } = await p.provider.list(signal);
  let machine = await p.provider.create({
    region: req.placement.region,
    size: req.placement.size,
    image: req.placement.image,
    userData: p.userData({ payload: req.payload, storePath: top, keys, cachePrivate: false, transfer: 'cache' }),
    deadline: new Date(serverTime.getTime() + req.maxAgeMinutes * 60_000),
    runId,
    toplevel: top,
  });
  const t = () => performance.now() - start;
  const waitStart = t();
  while (!(machine.status === 'running' && machine.ipv4)) {
    await delay(2_000);
    machine = (await p.provider.get(machine.id, signal)) ?? machine;
  }
  intervals.push({ name: 'wait-running (2 s polls)', start: waitStart, end: t() });
  const pause = t();
  await delay(5_000);
  intervals.push({ name: 'pause before SSH (5 s)', start: pause, end: t() });
  const sshStart = t();
  const target = sshTargetFor(await requireMachineKeys(keysRoot, runId), machine.ipv4!);
  (await waitForSsh(await target, { deadlineMs: 180_000, intervalMs: 1_000, probeIntervalMs: 0, hostKeyMismatch: 'fail' })).close();
  intervals.push({ name: 'wait-ssh (1 s retries)', start: sshStart, end: t() });
  const outcome = await p.followBoot(machine.ipv4!, keys, signal, noop);
  if (!outcome.ok) throw new Error(`seeds' flow: ${outcome.reason}`);
  return machine;
}

if (require.main === module) {
  benchRunToplevel(1, (process.argv[2]?.split(',') as ProviderId[] | undefined) ?? ['hetzner']).then(
    (f) => {
      for (const x of f)
        console.log(`${x.group} | ${x.name} | ${x.median?.toFixed(2)} ${x.unit} ${x.ratio ? `(${x.ratio.value.toFixed(2)}× ${x.ratio.against})` : ''} ${x.note ?? ''}`);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
