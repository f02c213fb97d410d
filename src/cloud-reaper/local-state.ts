// Where the CLI keeps what it needs after a deploy: the destroy-self URL, the web action's auth string and the
// secret, to give each machine it creates its destroy-self code. One file, mode 0600, in the CLI's state folder
// (0700, next to the per-machine keys); the extension keeps the same in SecretStorage instead.
// Why a local copy at all: a run computes codes offline, without a DigitalOcean call per run. Why not only local:
// the deployed destroy-self holds the secret as a bound parameter, and deploying again reads it back, so a lost or
// missing copy (another computer) costs one `thebacknd reaper deploy`, and codes already handed out stay valid.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../base/errors';
import type { ReaperDeployment } from './deploy';
import type { ReaperLink } from './link';

export const REAPER_STATE_FILE = 'reaper.json';

export interface StoredReaper extends ReaperLink {
  namespace: string;
  intervalMinutes: number;
  deployedAt: string;
}

export function reaperStatePath(stateDir: string): string {
  return path.join(stateDir, REAPER_STATE_FILE);
}

export function saveReaperState(stateDir: string, d: ReaperDeployment, now = new Date()): string {
  const stored: StoredReaper = {
    namespace: d.namespace,
    url: d.destroySelfUrl,
    whiskAuth: d.whiskAuth,
    secret: d.secret,
    intervalMinutes: d.intervalMinutes,
    deployedAt: now.toISOString(),
  };
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = reaperStatePath(stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  // Created 0600 before the secret is written, then renamed over the old one: never readable by others, never half.
  fs.writeFileSync(tmp, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  return file;
}

/** The stored link, or undefined when no reaper was deployed from here. Throws when the file is unsafe or broken. */
export function loadReaperState(stateDir: string): StoredReaper | undefined {
  const file = reaperStatePath(stateDir);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return undefined;
  }
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new UserError(`${file} is readable by other users: run \`chmod 600 ${file}\` (it holds the reaper's secret).`);
  }
  try {
    const o = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<StoredReaper>;
    if (typeof o.url === 'string' && typeof o.whiskAuth === 'string' && typeof o.secret === 'string' && o.secret.length >= 32) {
      return {
        namespace: String(o.namespace ?? ''),
        url: o.url,
        whiskAuth: o.whiskAuth,
        secret: o.secret,
        intervalMinutes: Number(o.intervalMinutes) || 0,
        deployedAt: String(o.deployedAt ?? ''),
      };
    }
  } catch {
    /* below */
  }
  throw new UserError(`${file} is not a reaper state file: delete it and run \`thebacknd reaper deploy\` again.`);
}

export function forgetReaperState(stateDir: string): void {
  fs.rmSync(reaperStatePath(stateDir), { force: true });
}
