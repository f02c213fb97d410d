// API calls per run: the requests one Run Toplevel (create → running → ready) and the user's Destroy send to each
// cloud, counted in the emulator's request log and split by stage. The emulated machine boots in the emulator's
// default time (DigitalOcean 400 ms, Hetzner 200 + 200 ms) and is polled at the run's default interval (2 s), so
// one status poll is counted; a real cloud's boot adds one poll per 2 s. The machine side (SSH, agent) is stood in.
import { startEmulator } from '../test/fixtures/emulator';
import { cloudOnlyRunPorts } from '../test/fixtures/cloud-only-run';
import { seededPlacement } from '../test/fixtures/emulator/seed';
import { createProvider } from '../src/providers';
import type { ProviderId } from '../src/providers/types';
import { runToplevel } from '../src/run/orchestrate';
import type { Stage } from '../src/run/types';
import { figure, type Figure } from './figures';

async function countRun(id: ProviderId): Promise<{ byStage: Map<string, number>; run: number; destroy: number }> {
  const emu = await startEmulator();
  try {
    const provider = createProvider(id, { token: 'bench-token-0123456789abcdef', endpoint: id === 'digitalocean' ? emu.doUrl : emu.hetznerUrl });
    const ports = cloudOnlyRunPorts(provider);
    const byStage = new Map<string, number>();
    let stage: Stage | undefined;
    let mark = emu.requests.length;
    const close = () => {
      if (stage) byStage.set(stage, (byStage.get(stage) ?? 0) + emu.requests.length - mark);
      mark = emu.requests.length;
    };
    const start = emu.requests.length;
    const result = await runToplevel(
      ports,
      {
        payload: { kind: 'toplevel', storePath: '/nix/store/00000000000000000000000000000000-nixos-system-bench' },
        placement: seededPlacement(id),
        maxAgeMinutes: 60,
        transfer: 'cache',
        cachePrivate: false,
        onFailure: 'destroy',
      },
      new AbortController().signal,
      (e) => {
        if (e.type !== 'stage') return;
        close();
        stage = e.stage;
      },
    );
    close();
    const run = emu.requests.length - start;
    const before = emu.requests.length;
    await provider.destroy(result.machine.id);
    if (emu.violations.length) throw new Error(`off-spec requests: ${emu.violations[0]}`);
    return { byStage, run, destroy: emu.requests.length - before };
  } finally {
    await emu.close();
  }
}

export async function benchApiCalls(): Promise<Figure[]> {
  const out: Figure[] = [];
  for (const id of ['digitalocean', 'hetzner'] as const) {
    const label = id === 'digitalocean' ? 'DigitalOcean' : 'Hetzner';
    const { byStage, run, destroy } = await countRun(id);
    const stages = [...byStage]
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${s} ${n}`)
      .join(', ');
    out.push(figure('API calls per run', `${label}: run, create → ready`, 'calls', [run], stages));
    out.push(figure('API calls per run', `${label}: Destroy`, 'calls', [destroy]));
  }
  return out;
}
