// What the real ports of a run are made from (src/run/ports.ts), shared by the per-port factories, and the paths on
// the machine they write to.

import type { Settings } from '../base/settings';
import type { ReaperLink } from '../cloud-reaper/link';
import type { NixOptions } from '../nix/run';
import type { CacheCredentials } from '../nix/s3';
import type { CloudProvider } from '../providers/types';

/** Root-only (the agent makes /run/thebacknd 0700); on the image /run is a tmpfs, so nothing survives a power-off. */
export const CREDENTIALS_FILE = '/run/thebacknd/cache-credentials';
/** Written (with the store path) once a closure copied over SSH is complete; the agent waits for it. */
export const CLOSURE_READY_FILE = '/run/thebacknd/closure-ready';

export interface PortsOptions {
  provider: CloudProvider;
  settings: Settings;
  /** Per-machine key directories live here (`<keysRoot>/machines/<run id>`, 0700); removed with the machine. */
  keysRoot: string;
  /** Push credentials: they write to the cache and never go to a machine, unless pushCredentialsReadToo. */
  cacheCredentials?: CacheCredentials;
  /** A read-only key for a private cache: what machines get. */
  cacheReadCredentials?: CacheCredentials;
  /** The CLI's documented fallback (no THEBACKND_CACHE_READ_* set): machines get the push key. Never the extension. */
  pushCredentialsReadToo?: boolean;
  flakeDir?: string;
  /** Remote command printing the agent's log from its start, then following it. */
  bootLogCommand?: string;
  /** How nix runs here (environment, binary). */
  nix?: Pick<NixOptions, 'env' | 'nixBin'>;
  /** How long SSH may take to answer, first and after a drop while following the boot (default 10 min). */
  sshTimeoutMs?: number;
  /** Pause between SSH attempts (default 2 s). */
  sshRetryMs?: number;
  /** While waiting on SSH, how often to ask the cloud whether the machine powered itself off (default 10 s). */
  powerPollMs?: number;
  /** The deployed cloud reaper: each machine gets its destroy-self code (never the secret) in user-data. */
  reaper?: ReaperLink;
}

/** How SSH waits: the overall deadline and the pause between attempts. */
export function sshWaitOf(o: Pick<PortsOptions, 'sshTimeoutMs' | 'sshRetryMs'>): { deadlineMs: number; intervalMs: number } {
  return { deadlineMs: o.sshTimeoutMs ?? 10 * 60_000, intervalMs: o.sshRetryMs ?? 2_000 };
}
