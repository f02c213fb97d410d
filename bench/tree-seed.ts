// The tree-refresh bench's cloud: the emulator with `machines` Thebacknd machines, each with a run id and a deadline
// an hour away; used in a child process (bench/tree-cloud.ts) and in the measuring process (bench/tree.ts).
import { startEmulator, type Emulator } from '../test/fixtures/emulator';
import { formatDeadline, newRunId } from '../src/providers/tags';
import type { ProviderId } from '../src/providers/types';

export interface TreeCloudData {
  id: ProviderId;
  machines: number;
}

export async function startSeededCloud({ id, machines }: TreeCloudData): Promise<{ emu: Emulator; endpoint: string }> {
  const emu = await startEmulator({ validate: false, rateLimit: { digitalocean: 1e9, hetzner: 1e9 } });
  const deadline = formatDeadline(new Date(Date.now() + 3_600_000));
  for (let i = 1; i <= machines; i++) {
    if (id === 'digitalocean') emu.addDroplet({ name: `thebacknd-${i}`, tags: ['thebacknd', newRunId(), `thebacknd-deadline:${deadline}`], region: 'ams3' });
    else emu.addServer({ name: `thebacknd-${i}`, labels: { thebacknd: '', 'thebacknd-run': newRunId(), 'thebacknd-deadline': deadline } });
  }
  return { emu, endpoint: id === 'digitalocean' ? emu.doUrl : emu.hetznerUrl };
}
