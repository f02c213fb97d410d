// Destroying a run's machine from here: the machine, then its keys (they open nothing once it is gone, and a later
// machine reusing the address must never meet them). A machine already gone is fine.

import type { CloudProvider, Machine } from '../providers/types';
import { removeMachineKeys } from '../ssh/keys';

export async function destroyRunMachine(o: { provider: CloudProvider; keysRoot: string }, machine: Pick<Machine, 'id' | 'runId'>, signal?: AbortSignal): Promise<void> {
  await o.provider.destroy(machine.id, signal);
  if (machine.runId) await removeMachineKeys(o.keysRoot, machine.runId);
}
