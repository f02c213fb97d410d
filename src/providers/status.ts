// Each cloud's lifecycle words mapped onto the four states the UI and the reaper reason about.
// Doubtful states lean to `creating`/`running`, never to `off`: the reaper destroys `off` machines at once.

import type { MachineStatus } from './types';

/** DigitalOcean droplet status: new, active, off, archive. */
export function digitalOceanStatus(s: string): MachineStatus {
  switch (s) {
    case 'active':
      return 'running';
    case 'off':
      return 'off';
    case 'archive':
      return 'destroying';
    default:
      return 'creating';
  }
}

/** Hetzner server status: initializing, starting, running, stopping, off, deleting, migrating, rebuilding, unknown. */
export function hetznerStatus(s: string): MachineStatus {
  switch (s) {
    case 'running':
    case 'migrating':
      return 'running';
    case 'stopping':
    case 'off':
      return 'off';
    case 'deleting':
      return 'destroying';
    case 'initializing':
    case 'starting':
    case 'rebuilding':
      return 'creating';
    default:
      // `unknown`: neither a reason to destroy it nor to trust it is up.
      return 'creating';
  }
}
