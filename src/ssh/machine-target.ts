// From a machine in the tree to an SSH target: its stored keys (by run id) and its address. vscode-free, so the
// commands, the run and the CLI all take the same path, with the same messages when SSH is not possible.

import { UserError } from '../base/errors';
import type { Machine } from '../providers/types';
import { requireMachineKeys, type MachineKeys } from './keys';
import { sshTargetFor, type SshTarget } from './session';

export type SshMachine = Pick<Machine, 'name' | 'runId' | 'ipv4' | 'ipv6'>;

/** The address SSH uses: IPv4 when there is one, else IPv6. */
export function machineAddress(m: SshMachine): string {
  const ip = m.ipv4 ?? m.ipv6;
  if (!ip) throw new UserError(`${m.name} has no IP address yet; wait until it is running.`);
  return ip;
}

/** The stored keys of a machine; a machine without a run id or keys here cannot be reached over SSH. */
export async function machineKeys(storageDir: string, m: SshMachine): Promise<MachineKeys> {
  if (!m.runId) throw new UserError(`${m.name} was not created by Thebacknd on this computer; SSH to it is not possible from here.`);
  return requireMachineKeys(storageDir, m.runId, m.name);
}

/** Keys plus address: what ssh2 needs. `port` is for tests (machines listen on 22). */
export async function machineSshTarget(storageDir: string, m: SshMachine, port?: number): Promise<SshTarget> {
  const ip = machineAddress(m);
  return sshTargetFor(await machineKeys(storageDir, m), ip, port);
}
