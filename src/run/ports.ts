// The real ports of a run (src/run/orchestrate.ts), made by one factory per owner: this machine's Nix builds, signs
// and pushes (nix-ports.ts); per-machine keys live on disk (key-ports.ts); the user-data follows the image's
// contract (user-data-port.ts); and everything that reaches the machine goes over SSH pinned to the host key
// generated here for it (machine-ports.ts, boot-port.ts), watched for the machine powering itself off
// (power-watch.ts); the cache is asked for the toplevel's narinfo before a machine waits on it (cache-check-port.ts).
// vscode-free: the extension, the CLI and the end-to-end tests plug the same ports in.

import { setTimeout as delay } from 'node:timers/promises';
import { bootPort } from './boot-port';
import { cacheCheckPort } from './cache-check-port';
import { keyPorts } from './key-ports';
import { machinePorts } from './machine-ports';
import { nixPorts } from './nix-ports';
import type { PortsOptions } from './port-options';
import { powerWatch } from './power-watch';
import type { RunPorts } from './types';
import { userDataPort } from './user-data-port';

/** The agent writes its stage lines and the switch's output here, in both boot phases (nix/agent). */
export { CLOSURE_READY_FILE, CREDENTIALS_FILE, type PortsOptions } from './port-options';
export { credentialsFileFor, isS3Url, preflight, transferOf, trustedPublicKeyOf } from './cache-access';
export { binaryPathOf } from './user-data-port';
export { outcomeOf } from './boot-port';

export function createRunPorts(o: PortsOptions): RunPorts {
  // One watch per run's ports: a machine seen off while waiting on SSH is known to be off when following its boot.
  const power = powerWatch(o.provider, o.powerPollMs);
  return {
    provider: o.provider,
    ...nixPorts(o),
    ...keyPorts(o.keysRoot),
    userData: userDataPort(o),
    ...machinePorts(o, power),
    narinfoProblem: cacheCheckPort(o),
    followBoot: bootPort(o, power),
    sleep: (ms, signal) => delay(ms, undefined, { signal }),
  };
}
