// The cloud of the tree-refresh bench (bench/tree.ts) in a child process: the emulator renders and serialises its
// pages beside the process measured, as a real cloud does on its own machines, so a refresh's time is the client's
// (requests, parsing, mapping, presentation) and the cloud's latency, not the emulator's rendering on the same thread.
import { startSeededCloud, type TreeCloudData } from './tree-seed';

export type { TreeCloudData };
export type TreeCloudReply = { kind: 'ready'; endpoint: string } | { kind: 'requests'; count: number } | { kind: 'closed' };

async function main(): Promise<void> {
  const { emu, endpoint } = await startSeededCloud(JSON.parse(process.argv[2] ?? '{}') as TreeCloudData);
  const reply = (r: TreeCloudReply) => process.send!(r);
  process.on('message', (m: 'requests' | 'close') => {
    if (m === 'requests') reply({ kind: 'requests', count: emu.requests.length });
    else void emu.close().then(() => reply({ kind: 'closed' }));
  });
  reply({ kind: 'ready', endpoint });
}

void main();
