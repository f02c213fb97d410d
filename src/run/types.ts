// One run of "Run Toplevel": what to run, where, and the ports through which the orchestration reaches Nix,
// the cloud and the machine. vscode-free; the extension, the CLI and the tests plug real implementations in.

import type { CloudProvider, Machine, ProviderId } from '../providers/types';

export type Payload =
  | { kind: 'configuration'; flakeRef: string; name: string } // build, sign, push (or copy over SSH)
  | { kind: 'installable'; installable: string } // any flake installable that builds a toplevel
  | { kind: 'toplevel'; storePath: string } // already in the cache
  | { kind: 'binary'; storePath: string; binary: string } // run it, then power off
  | { kind: 'bare' }; // the base image as it is

export interface Placement {
  provider: ProviderId;
  region: string;
  size: string;
  image: string;
}

export type Stage = 'build' | 'sign' | 'push' | 'keys' | 'create' | 'wait-running' | 'wait-ssh' | 'credentials' | 'copy-closure' | 'boot' | 'ready' | 'cleanup';

export type RunEvent =
  | { type: 'stage'; stage: Stage; detail?: string; at: Date }
  | { type: 'log'; line: string }
  | { type: 'progress'; message: string; fraction?: number }
  | { type: 'machine'; machine: Machine };

export interface MachineKeys {
  dir: string;
  loginPrivateKeyPath: string;
  loginPublicKey: string;
  hostPrivateKey: string;
  hostPublicKey: string;
}

export interface BootOutcome {
  ok: boolean;
  reason?: string;
  poweredOff?: boolean;
}

export interface RunPorts {
  provider: CloudProvider;
  /** Builds an installable and returns its (first) output store path. */
  build(installable: string, signal: AbortSignal, onLine: (l: string) => void): Promise<string>;
  sign(storePath: string, signal: AbortSignal): Promise<void>;
  push(storePath: string, signal: AbortSignal, onProgress: (message: string, fraction?: number) => void): Promise<void>;
  newKeys(runId: string): Promise<MachineKeys>;
  removeKeys(runId: string): Promise<void>;
  /** `transfer` says whether the machine substitutes from the cache or receives the closure over SSH. */
  userData(input: { payload: Payload; storePath?: string; keys: MachineKeys; cachePrivate: boolean; transfer?: 'cache' | 'ssh'; runId?: string }): string;
  waitSsh(ip: string, keys: MachineKeys, signal: AbortSignal): Promise<void>;
  /** Private caches only: the read credentials, written over the pinned connection into a root-only tmpfs. */
  deliverCredentials?(ip: string, keys: MachineKeys, signal: AbortSignal): Promise<void>;
  /** No cache configured: the closure goes straight over SSH. */
  copyClosure?(ip: string, keys: MachineKeys, storePath: string, signal: AbortSignal, onLine: (l: string) => void): Promise<void>;
  /**
   * Where machines substitute from, is the store path's narinfo there? undefined when it is, else why not (a
   * clause naming what was asked). The agent would wait for it for half an hour: the run asks before creating a
   * machine for a path it does not push, and after its push.
   */
  narinfoProblem?(storePath: string, cachePrivate: boolean, signal: AbortSignal): Promise<string | undefined>;
  /** Follows the agent until it reports done or failed. */
  followBoot(ip: string, keys: MachineKeys, signal: AbortSignal, onLine: (l: string) => void): Promise<BootOutcome>;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export interface RunRequest {
  payload: Payload;
  placement: Placement;
  maxAgeMinutes: number;
  /** 'cache' pushes to the binary cache; 'ssh' copies the closure over SSH (no cache configured). */
  transfer: 'cache' | 'ssh';
  cachePrivate: boolean;
  /** What to do with the machine when its agent fails: destroy it, or keep it (it stays tagged with its deadline). */
  onFailure: 'destroy' | 'keep';
  pollMs?: number;
  runningTimeoutMs?: number;
}

export interface RunResult {
  machine: Machine;
  keys: MachineKeys;
  storePath?: string;
  outcome: BootOutcome;
}
