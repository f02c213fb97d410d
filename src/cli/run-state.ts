// What the CLI remembers of its own runs, beside each run's keys (`<state>/machines/<run id>/machine`): the
// machine its create answer named. `destroy-old` never destroys that machine as a "duplicate" of its run id, which
// is only a tag a foreign machine could copy.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Machine } from '../providers/types';
import { listMachineKeyIds, machineKeyDir } from '../ssh/keys';

const FILE = 'machine';

/** Records "provider:id" next to the run's keys (when they exist: a run without keys has nothing to remember). */
export function rememberMachine(stateDir: string, m: Pick<Machine, 'provider' | 'id' | 'runId'>): void {
  if (!m.runId) return;
  try {
    writeFileSync(path.join(machineKeyDir(stateDir, m.runId), FILE), `${m.provider}:${m.id}\n`, { mode: 0o600 });
  } catch {
    // no key folder (already removed): nothing to protect
  }
}

/** "provider:id" of every machine a local run's create answer named. */
export async function knownMachines(stateDir: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const runId of await listMachineKeyIds(stateDir)) {
    try {
      const line = readFileSync(path.join(machineKeyDir(stateDir, runId), FILE), 'utf8').trim();
      if (/^(digitalocean|hetzner):\d+$/.test(line)) out.add(line);
    } catch {
      // a run that has not created its machine yet
    }
  }
  return out;
}
