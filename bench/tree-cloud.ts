// The cloud of the tree-refresh bench (bench/tree.ts) in a child process: the emulator renders and serialises its
// pages beside the process measured, as a real cloud does on its own machines, so a refresh's time is the client's
// (requests, parsing, mapping, presentation) and the cloud's latency, not the emulator's rendering on the same thread.
import { startEmulator } from '../test/fixtures/emulator';
import { formatDeadline, newRunId } from '../src/providers/tags';
import type { ProviderId } from '../src/providers/types';

export interface TreeCloudData { id: ProviderId; machines: number }
export type TreeCloudReply = { kind: 'ready'; endpoint: string } | { kind: 'requests'; count: number } | { kind: 'closed' };

async function main(): Promise<void> {
  const { id, machines } = JSON.parse(process.argv[2] ?? '{}') as TreeCloudData;
  const emu = await startEmulator({ validate: false, rateLimit: { digitalocean: 1e9, hetzner: 1e9 } });
  const deadline = formatDeadline(new Date(Date.now() + 3_600_000));
  for (let i = 1; i <= machines; i++) {
    if (id === 'digitalocean') emu.addDroplet({ name: `thebacknd-${i}`, tags: ['thebacknd', newRunId(), `thebacknd-deadline:${deadline}`], region: 'ams3' });
    else emu.addServer({ name: `thebacknd-${i}`, labels: { thebacknd: '', 'thebacknd-run': newRunId(), 'thebacknd-deadline': deadline } });
  }
  const reply = (r: TreeCloudReply) => process.send!(r);
  process.on('message', (m: 'requests' | 'close') => {
    if (m === 'requests') reply({ kind: 'requests', count: emu.requests.length });
    else void emu.close().then(() => reply({ kind: 'closed' }));
  });
  reply({ kind: 'ready', endpoint: id === 'digitalocean' ? emu.doUrl : emu.hetznerUrl });
}

void main();
