// Deploy vs a new machine, on the same test hosts (network namespaces with sshd, the agent and an empty Nix store,
// created through the cloud emulator, substituting from s3rver): after a one-line change to the flake,
// (a) `deployToMachine` to the running machine (build, push what is new, switch, confirm over a new SSH session) and
// (b) a new Run Toplevel of the same configuration (build, push, create, boot, fetch the closure, switch). The
// emulator creates machines in well under a second; a real cloud takes 30–90 s, so (b) is a floor.
import path from 'node:path';
import { DEFAULTS, type Settings } from '../src/base/settings';
import { deployToMachine } from '../src/deploy';
import { createRunPorts, destroyRunMachine, runToplevel } from '../src/run';
import type { Machine } from '../src/providers/types';
import { buildTestClosures, startHostCache } from '../test/fixtures/testhost';
import { PLACEMENT, startWorld } from '../test/unit/run/world';
import { writeDeployFlake } from '../test/unit/deploy/flake';
import { figure, ratio, type Figure } from './figures';

const DEPLOY_SCRIPT = path.resolve(__dirname, '..', '..', 'nix', 'agent', 'thebacknd-deploy.sh');

export async function benchDeploy(repeats: number): Promise<Figure[]> {
  const w = await startWorld();
  const cache = await startHostCache();
  try {
    await buildTestClosures(path.join(w.dir, 'closures')); // for its signing key
    const signingKeyFile = path.join(w.dir, 'closures', 'secret.key');
    const settings: Settings = { ...DEFAULTS, cache: { ...cache.s3.cache({ signingKeyFile }), publicUrl: cache.url } };
    const flake = writeDeployFlake(w.dir, `bench-${process.pid}-${Date.now()}`);
    const ports = createRunPorts({
      provider: w.provider('hetzner'),
      settings,
      keysRoot: w.keysRoot,
      cacheCredentials: cache.s3.credentials,
      flakeDir: flake.dir,
      nix: { env: w.env },
      sshTimeoutMs: 60_000,
      sshRetryMs: 200,
    });
    const run = async (): Promise<{ ms: number; machine: Machine }> => {
      const t = performance.now();
      const r = await runToplevel(
        ports,
        {
          payload: { kind: 'configuration', flakeRef: flake.dir, name: 'svc' },
          placement: PLACEMENT.hetzner,
          maxAgeMinutes: 30,
          transfer: 'cache',
          cachePrivate: false,
          onFailure: 'destroy',
          pollMs: 100,
        },
        new AbortController().signal,
        () => undefined,
      );
      return { ms: performance.now() - t, machine: r.machine };
    };
    const target = (await run()).machine;
    const runs: number[] = [];
    const deploys: number[] = [];
    const sent: number[] = [];
    let version = 1;
    for (let i = 0; i < repeats; i++) {
      flake.setVersion(`v${++version}`);
      const t = performance.now();
      const d = await deployToMachine(
        {
          settings,
          keysRoot: w.keysRoot,
          cacheCredentials: cache.s3.credentials,
          flakeDir: flake.dir,
          nix: { env: w.env },
          deployCommand: `THEBACKND_DETACH=setsid bash ${DEPLOY_SCRIPT}`,
          sshTimeoutMs: 60_000,
          sshRetryMs: 200,
        },
        { machine: target, payload: { kind: 'configuration', flakeRef: flake.dir, name: 'svc' }, transfer: 'cache', confirmTimeoutSeconds: 30 },
        new AbortController().signal,
        () => undefined,
      );
      if (d.outcome !== 'confirmed') throw new Error(`the deploy ended ${d.outcome}: ${d.reason ?? ''}`);
      deploys.push(performance.now() - t);
      sent.push(d.uploadedBytes);
      // The same change, as a new machine (then destroyed, untimed).
      flake.setVersion(`v${++version}`);
      const r = await run();
      runs.push(r.ms);
      await destroyRunMachine({ provider: w.provider('hetzner'), keysRoot: w.keysRoot }, r.machine);
    }
    const s = (xs: number[]) => xs.map((x) => x / 1000);
    const a = figure('deploy', 'new Run Toplevel after a one-line change (build, push, create, boot, fetch, switch; emulated cloud)', 's', s(runs));
    const b = figure('deploy', 'redeploy to the running machine after a one-line change (build, push, switch, confirm)', 's', s(deploys));
    const c = figure('deploy', 'bytes the redeploy uploaded', 'bytes', sent);
    return [a, ratio(b, a, 'new Run Toplevel'), c];
  } finally {
    await w.close();
    await cache.close();
  }
}
