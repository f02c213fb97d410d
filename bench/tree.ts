// Tree refresh with 1, 100 and 1000 machines: what the Machines view does on each refresh, minus VS Code's own
// rendering — MachineService.refresh() (one paged list call through the real client, to the emulator on loopback
// with spec validation off, so the emulator's checks are not counted), then every row's presentation
// (src/views/present.ts: effective deadline, description, icon, contextValue, Markdown tooltip) and the status bar.
// The note gives the CPU time of a refresh (client and emulator: one process) beside the wall time: on a loaded
// machine the wall time is mostly waiting for a core. (An emulator in its own process was tried: under load each
// of the 20 requests then also waits for the other process to be scheduled, and the refresh took twice as long.)
import { startEmulator } from '../test/fixtures/emulator';
import { MachineService } from '../src/machines/service';
import { DEFAULTS, type Settings } from '../src/base/settings';
import { createProvider } from '../src/providers';
import { formatDeadline, newRunId } from '../src/providers/tags';
import type { ProviderId } from '../src/providers/types';
import { machineContextValue, machineDescription, machineIcon, machineTooltip, statusBarModel, withEffectiveDeadline } from '../src/views/present';
import { figure, ratio, repeat, type Figure } from './figures';

export const TREE_SIZES = [1, 100, 1000];

async function refreshCost(id: ProviderId, machines: number, repeats: number): Promise<{ samples: number[]; requests: number; cpuMs: number }> {
  const emu = await startEmulator({ validate: false, rateLimit: { digitalocean: 1e9, hetzner: 1e9 } });
  try {
    const deadline = formatDeadline(new Date(Date.now() + 3_600_000));
    for (let i = 1; i <= machines; i++) {
      if (id === 'digitalocean') emu.addDroplet({ name: `thebacknd-${i}`, tags: ['thebacknd', newRunId(), `thebacknd-deadline:${deadline}`], region: 'ams3' });
      else emu.addServer({ name: `thebacknd-${i}`, labels: { thebacknd: '', 'thebacknd-run': newRunId(), 'thebacknd-deadline': deadline } });
    }
    const endpoint = id === 'digitalocean' ? emu.doUrl : emu.hetznerUrl;
    const settings: Settings = { ...DEFAULTS, [id]: { ...DEFAULTS[id], endpoint } };
    const service = new MachineService({
      tokens: { get: async (p) => (p === id ? { token: 'bench-token-0123456789abcdef', source: 'environment' } : undefined) },
      settings: () => settings,
      createProvider: (p, o) => createProvider(p, o),
    });
    let requests = 0;
    const cpu: number[] = [];
    const samples = await repeat(
      repeats,
      async () => {
        const before = emu.requests.length;
        const c0 = process.cpuUsage();
        const t = performance.now();
        await service.refresh();
        const snap = service.snapshot().find((s) => s.id === id);
        if (!snap || snap.error) throw new Error(`the refresh failed: ${snap?.error?.message ?? 'no provider'}`);
        if (snap.machines.length !== machines) throw new Error(`listed ${snap.machines.length} of ${machines} machines`);
        const now = service.serverNow(id);
        let chars = 0;
        for (const raw of snap.machines) {
          const { machine: m, implicit } = withEffectiveDeadline(raw, settings.maxAgeMinutes);
          chars += machineDescription(m, now).length + machineContextValue(m).length + machineIcon(m, now).id.length;
          chars += machineTooltip(m, now, { local: true, implicitDeadline: implicit }).length;
        }
        chars += statusBarModel(snap.machines.map((machine) => ({ machine, nowMs: now })))?.text.length ?? 0;
        const elapsed = performance.now() - t;
        const used = process.cpuUsage(c0);
        cpu.push((used.user + used.system) / 1000);
        if (chars === 0) throw new Error('nothing was presented');
        requests = emu.requests.length - before;
        return elapsed;
      },
      2,
    );
    const measured = cpu.slice(-samples.length).sort((a, b) => a - b);
    return { samples, requests, cpuMs: measured[Math.floor(measured.length / 2)] ?? NaN };
  } finally {
    await emu.close();
  }
}

export async function benchTree(repeats: number): Promise<Figure[]> {
  const out: Figure[] = [];
  for (const id of ['digitalocean', 'hetzner'] as const) {
    let one: Figure | undefined;
    for (const n of TREE_SIZES) {
      const { samples, requests, cpuMs } = await refreshCost(id, n, repeats);
      const note = `${requests} API call${requests > 1 ? 's' : ''}, ${cpuMs.toFixed(cpuMs < 10 ? 1 : 0)} ms CPU`;
      const f = figure('tree refresh', `${id === 'digitalocean' ? 'DigitalOcean' : 'Hetzner'}, ${n} machine${n > 1 ? 's' : ''}`, 'ms', samples, note);
      out.push(one ? ratio(f, one, '1 machine') : f);
      one ??= f;
    }
  }
  return out;
}
