// One deploy to a running machine: what to switch it to, and what the user sees on the way. vscode-free.

import type { Machine } from '../providers/types';

/** What to deploy: a configuration of a flake (built here), any installable, or a toplevel already built. */
export type DeployPayload = { kind: 'configuration'; flakeRef: string; name: string } | { kind: 'installable'; installable: string } | { kind: 'toplevel'; storePath: string };

export type DeployStage = 'build' | 'sign' | 'push' | 'copy' | 'activate' | 'switch' | 'confirm' | 'cancel' | 'done';

export type DeployEvent =
  | { type: 'stage'; stage: DeployStage; detail?: string; at: Date }
  /** The machine's deploy log (stage lines and the switch's output), as the boot log streams it. */
  | { type: 'log'; line: string }
  | { type: 'progress'; message: string; fraction?: number };

export interface DeployRequest {
  machine: Pick<Machine, 'name' | 'runId' | 'ipv4' | 'ipv6'>;
  payload: DeployPayload;
  /** 'cache' pushes what the cache lacks (the machine substitutes it); 'ssh' copies what the machine lacks. */
  transfer: 'cache' | 'ssh';
  /**
   * Seconds the machine waits for the confirmation over a new SSH session before it switches back by itself;
   * 0 turns the rollback off (`--no-rollback`).
   */
  confirmTimeoutSeconds: number;
}

export type DeployOutcome = 'switched' | 'confirmed' | 'rolled-back' | 'failed';

export interface DeployResult {
  id: string;
  storePath: string;
  /** The toplevel the machine ran before. */
  previous?: string;
  outcome: DeployOutcome;
  /** Why it rolled back or failed, in words. */
  reason?: string;
  /** Bytes this deploy sent: NARs uploaded to the cache, or NARs of the paths copied over SSH. */
  uploadedBytes: number;
  /** Download size of the paths the machine substituted from the cache (0 over SSH: it had them already). */
  fetchedBytes: number;
  /** Store paths that travelled (missing from the cache, or from the machine over SSH). */
  uploadedPaths: number;
}

/** Default confirmation window: long enough for a slow sshd restart, short enough to wait out. */
export const DEFAULT_CONFIRM_TIMEOUT_SECONDS = 30;
