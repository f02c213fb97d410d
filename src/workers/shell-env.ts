// Open Worker Shell: a local shell whose environment holds what vps-worker's `shell-<name>` gives, for one worker:
//   $store    its Nix store URL (ssh://, host key pinned):  nix copy --to "$store" …, nix store ping --store "$store"
//   $builder  its 8-column builder line:                     nix build --max-jobs 0 --builders "$builder" …
//   $ssh      an OpenSSH command pinned to its host key:     $ssh uptime
//   $ip, $keys (its key folder)

import { UserError } from '../base/errors';
import type { Machine } from '../providers/types';
import { writeKnownHosts } from '../ssh/known-hosts';
import type { MachineKeys } from '../ssh/keys';
import { machineAddress, machineKeys } from '../ssh/machine-target';
import { builderKeyPath, spaceFreePath, systemsFor, workerBuilderLine, workerStoreUrl } from './builders';

export interface WorkerShellInput {
  name: string;
  runId: string;
  ip: string;
  keys: MachineKeys;
  builderKeyPath: string;
  systems: string[];
  maxJobs: number;
}

export interface WorkerShell {
  env: Record<string, string>;
  /** Shown when the terminal opens (plain text, `\n` line ends). */
  banner: string;
}

/** Writes the worker's known_hosts (pinned key) and returns the environment and the banner. */
export async function workerShell(w: WorkerShellInput): Promise<WorkerShell> {
  // `$ssh` is expanded unquoted (as vps-worker's is), so none of its words may contain a space.
  const knownHosts = await spaceFreePath(await writeKnownHosts(w.keys, w.ip), w.runId, 'known_hosts');
  const store = workerStoreUrl(w);
  const builder = workerBuilderLine(w, w.systems, w.maxJobs);
  const ssh = ['ssh', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes', '-i', w.builderKeyPath, `root@${w.ip}`].join(' ');
  const env = { store, builder, ssh, ip: w.ip, keys: w.keys.dir };
  const banner = [
    `Thebacknd worker ${w.name} (${w.ip}). This shell has:`,
    '  $store    its Nix store:   nix copy --to "$store" ./result ; nix store ping --store "$store"',
    '  $builder  its builder line: nix build --max-jobs 0 --builders-use-substitutes --builders "$builder" .#…',
    '  $ssh      SSH to it:        $ssh uptime',
    'The worker is still destroyed at its deadline.',
    '',
  ].join('\n');
  return { env, banner };
}

/**
 * The shell of any running machine whose keys are on this computer (a worker, or a Run Toplevel machine, which is
 * just as good a builder). `cpus` sets the builder line's parallel jobs (default 1).
 */
export async function shellForMachine(storageDir: string, m: Machine, cpus?: number): Promise<WorkerShell> {
  if (m.status !== 'running') throw new UserError(`${m.name} is ${m.status}; a worker shell needs a running machine.`);
  const ip = machineAddress(m);
  const keys = await machineKeys(storageDir, m);
  return workerShell({
    name: m.name,
    runId: m.runId!,
    ip,
    keys,
    builderKeyPath: await builderKeyPath(keys, m.runId!),
    systems: systemsFor(m.provider, m.size),
    maxJobs: Math.max(1, cpus ?? 1),
  });
}
