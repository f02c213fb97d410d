// Each machine's deploy history (time, store path, result, bytes), kept with the machine's keys: it lives exactly as
// long as the machine does here, and goes when the keys are removed with it.

import fs from 'node:fs/promises';
import path from 'node:path';
import { machineKeyDir } from '../ssh/keys';
import type { DeployOutcome, DeployResult } from './types';

export interface DeployRecord {
  at: string;
  id: string;
  storePath: string;
  outcome: DeployOutcome | 'cancelled' | 'error';
  reason?: string;
  uploadedBytes?: number;
  fetchedBytes?: number;
}

const FILE = 'deploys.json';
const MAX = 50;

export async function readDeployHistory(keysRoot: string, runId: string): Promise<DeployRecord[]> {
  try {
    const data: unknown = JSON.parse(await fs.readFile(path.join(machineKeyDir(keysRoot, runId), FILE), 'utf8'));
    return Array.isArray(data) ? (data.filter((r) => r && typeof r === 'object' && typeof r.storePath === 'string') as DeployRecord[]) : [];
  } catch {
    return [];
  }
}

export async function appendDeployHistory(keysRoot: string, runId: string, record: DeployRecord): Promise<void> {
  const dir = machineKeyDir(keysRoot, runId);
  const all = [...(await readDeployHistory(keysRoot, runId)), record].slice(-MAX);
  const tmp = path.join(dir, `${FILE}.${process.pid}.tmp`);
  await fs.writeFile(tmp, `${JSON.stringify(all, null, 1)}\n`, { mode: 0o600 });
  await fs.rename(tmp, path.join(dir, FILE));
}

export function recordOf(r: DeployResult, at = new Date()): DeployRecord {
  return {
    at: at.toISOString(),
    id: r.id,
    storePath: r.storePath,
    outcome: r.outcome,
    ...(r.reason ? { reason: r.reason } : {}),
    uploadedBytes: r.uploadedBytes,
    fetchedBytes: r.fetchedBytes,
  };
}

/** The toplevel the machine runs after its deploys: the last one that stayed, else undefined (its first toplevel). */
export function currentToplevel(history: readonly DeployRecord[]): string | undefined {
  for (let i = history.length - 1; i >= 0; i--) {
    const r = history[i]!;
    if (r.outcome === 'switched' || r.outcome === 'confirmed') return r.storePath;
    if (r.outcome === 'rolled-back') continue;
  }
  return undefined;
}
