// Deploy vs a new machine, on the same test hosts (network namespaces with sshd, the agent and an empty Nix store,
// created through the cloud emulator, substituting from s3rver): after a one-line change to the flake,
// (a) `deployToMachine` to the running machine (build, push what is new, switch, confirm over a new SSH session) and
// (b) a new Run Toplevel of the same configuration (build, push, create, boot, fetch the closure, switch). The
// emulator creates machines in well under a second; a real cloud takes 30–90 s, so (b) is a floor.
import { deployToMachine } from '../src/deploy';
import { destroyRunMachine, runToplevel } from '../src/run';
import type { Machine } from '../src/providers/types';
import { runRequest, startCacheWorld, worldPorts } from '../test/unit/run/cache-world';
import { writeDeployFlake } from '../test/unit/deploy/flake';
import { deployOptions, deployRequest } from '../test/unit/deploy/options';
import { figure, ratio, type Figure } from './figures';

export async function benchDeploy(repeats: number): Promise<Figure[]> {
  const cw = await startCacheWorld();
  const { w } = cw;
  try {
    const flake = writeDeployFlake(w.dir, `bench-${process.pid}-${Date.now()}`);
    const ports = worldPorts(cw, 'hetzner', flake.dir);
    const run = async (): Promise<{ ms: number; machine: Machine }> => {
      const t = performance.now();
      const r = await runToplevel(ports, runRequest('hetzner', { kind: 'configuration', flakeRef: flake.dir, name: 'svc' }), new AbortController().signal, () => undefined);
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
      const d = await deployToMachine(deployOptions(cw, flake.dir), deployRequest(target, flake.dir), new AbortController().signal, () => undefined);
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
    await cw.close();
  }
}
