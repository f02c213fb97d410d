// Tree refresh with 1, 100 and 1000 machines: what the Machines view does on each refresh, minus VS Code's own
// rendering — MachineService.refresh() (one paged list call through the real client, to the emulator on loopback
// with spec validation off, so the emulator's checks are not counted; the emulator runs in a child process, see
// bench/tree-cloud.ts, so its rendering is not counted either), then every row's presentation
// (src/views/present.ts: effective deadline, description, icon, contextValue, Markdown tooltip) and the status bar.
// The note gives this process's CPU time per refresh beside the wall time: on a loaded machine the two part. The
// 1000-machine rows are also measured with the emulator in this process (its rendering then shares the client's
// thread and is counted), so both models of "the cloud's own work" stand side by side.
import path from 'node:path';
import { fork } from 'node:child_process';
import { MachineService } from '../src/machines/service';
import { DEFAULTS, type Settings } from '../src/base/settings';
import { createProvider } from '../src/providers';
import type { ProviderId } from '../src/providers/types';
import { machineContextValue, machineDescription, machineIcon, machineTooltip, statusBarModel, withEffectiveDeadline } from '../src/views/present';
import { figure, ratio, repeat, type Figure } from './figures';
import type { TreeCloudData, TreeCloudReply } from './tree-cloud';
import { startSeededCloud } from './tree-seed';

export const TREE_SIZES = [1, 100, 1000];

/** The emulator with `machines` machines in a child process (its CPU time is not this process's). */
async function startCloud(data: TreeCloudData): Promise<{ endpoint: string; requests(): Promise<number>; close(): Promise<void> }> {
  const worker = fork(path.join(__dirname, 'tree-cloud.js'), [JSON.stringify(data)], { execArgv: [] });
  const next = () =>
    new Promise<TreeCloudReply>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the cloud process exited (${code})`));
      worker.once('exit', onExit);
      worker.once('message', (m) => {
        worker.off('exit', onExit); // one listener per question, not one more per question asked
        resolve(m as TreeCloudReply);
      });
    });
  const ready = await next();
  if (ready.kind !== 'ready') throw new Error('the cloud worker did not start');
  return {
    endpoint: ready.endpoint,
    async requests() {
      const answer = next();
      worker.send('requests');
      const r = await answer;
      return r.kind === 'requests' ? r.count : NaN;
    },
    async close() {
      const answer = next();
      worker.send('close');
      await answer;
      worker.disconnect();
    },
  };
}

/** The same cloud in this process: the emulator's rendering shares the client's thread. */
async function startCloudHere(data: TreeCloudData): Promise<{ endpoint: string; requests(): Promise<number>; close(): Promise<void> }> {
  const { emu, endpoint } = await startSeededCloud(data);
  return { endpoint, requests: async () => emu.requests.length, close: () => emu.close() };
}

async function refreshCost(id: ProviderId, machines: number, repeats: number, here = false): Promise<{ samples: number[]; requests: number; cpuMs: number }> {
  const cloud = await (here ? startCloudHere : startCloud)({ id, machines });
  try {
    const settings: Settings = { ...DEFAULTS, [id]: { ...DEFAULTS[id], endpoint: cloud.endpoint } };
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
        const before = await cloud.requests();
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
        requests = (await cloud.requests()) - before;
        return elapsed;
      },
      2,
    );
    const measured = cpu.slice(-samples.length).sort((a, b) => a - b);
    return { samples, requests, cpuMs: measured[Math.floor(measured.length / 2)] ?? NaN };
  } finally {
    await cloud.close();
  }
}

export async function benchTree(repeats: number): Promise<Figure[]> {
  const out: Figure[] = [];
  for (const id of ['digitalocean', 'hetzner'] as const) {
    let one: Figure | undefined;
    for (const n of TREE_SIZES) {
      const { samples, requests, cpuMs } = await refreshCost(id, n, repeats);
      const note = `${requests} API call${requests > 1 ? 's' : ''}, ${cpuMs.toFixed(cpuMs < 10 ? 1 : 0)} ms CPU here`;
      const f = figure('tree refresh', `${id === 'digitalocean' ? 'DigitalOcean' : 'Hetzner'}, ${n} machine${n > 1 ? 's' : ''}`, 'ms', samples, note);
      out.push(one ? ratio(f, one, '1 machine') : f);
      one ??= f;
    }
    const here = await refreshCost(id, 1000, repeats, true);
    const last = out[out.length - 1]!;
    const f = figure(
      'tree refresh',
      `${id === 'digitalocean' ? 'DigitalOcean' : 'Hetzner'}, 1000 machines, emulator in this process`,
      'ms',
      here.samples,
      `${here.requests} API calls, ${here.cpuMs.toFixed(0)} ms CPU (client and emulator)`,
    );
    out.push(ratio(f, last, 'own process'));
  }
  return out;
}
