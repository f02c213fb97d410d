// The ports of a machine's keys on this computer: a login key and a host key per run, in a 0700 folder under the
// keys root, removed with the machine; and the stored keys the SSH ports connect with.

import path from 'node:path';
import { createMachineKeys, removeMachineKeys, requireMachineKeys, type MachineKeys as StoredKeys } from '../ssh/keys';
import { sshTargetFor, type SshTarget } from '../ssh/session';
import type { MachineKeys, RunPorts } from './types';

export function keyPorts(keysRoot: string): Pick<RunPorts, 'newKeys' | 'removeKeys'> {
  return {
    async newKeys(runId) {
      const k = await createMachineKeys(keysRoot, runId);
      return { dir: k.dir, loginPrivateKeyPath: k.loginKeyPath, loginPublicKey: k.loginPublicKey, hostPrivateKey: k.hostPrivateKey, hostPublicKey: k.hostPublicKey };
    },
    removeKeys: (runId) => removeMachineKeys(keysRoot, runId),
  };
}

/** The keys a run stored, read back (they must still be there). */
export function storedKeys(keysRoot: string, keys: MachineKeys): Promise<StoredKeys> {
  return requireMachineKeys(keysRoot, path.basename(keys.dir));
}

/** Where SSH connects to, pinned to the run's host key. */
export async function targetOf(keysRoot: string, ip: string, keys: MachineKeys): Promise<SshTarget> {
  return sshTargetFor(await storedKeys(keysRoot, keys), ip);
}
