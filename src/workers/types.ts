// Build on Ephemeral Workers: what to build, on how many machines of which type, and what the caller is told while
// it happens. vscode-free; the extension command, the CLI and the tests drive the same orchestration.

import type { MachineKeys } from '../ssh/keys';
import type { CloudProvider, Machine, ProviderId } from '../providers/types';
import type { NixOptions } from '../nix/run';

/** More workers than this is a typo more often than a plan (and Hetzner projects start with a limit of 10 servers). */
export const MAX_WORKERS = 10;

export interface WorkerPlacement {
  provider: ProviderId;
  region: string;
  size: string;
  /** The Thebacknd base image: it installs the pinned host key and the login key from user-data. */
  image: string;
}

export interface WorkersRequest {
  /** Anything `nix build` accepts. */
  installable: string;
  placement: WorkerPlacement;
  /** N, 1..MAX_WORKERS. */
  count: number;
  /** The workers' deadline (the reaper destroys them then, whatever happens here) and the estimate's duration. */
  maxAgeMinutes: number;
  /** Where the result's out-link goes (absolute, or relative to nix.cwd). */
  outLink: string;
  /** Keep the workers after a failed build, for debugging; they keep their deadline. */
  keepOnFailure: boolean;
  /** Column 2 of the builder lines; default from the server type (`x86_64-linux,i686-linux`, or aarch64 on Arm). */
  systems?: string[];
  /** Column 4: parallel builds per worker; default each worker's own core count (`nproc`), else the type's CPUs. */
  maxJobs?: number;
  /** Provider polling while a worker starts; default 2 s. */
  pollMs?: number;
  /** Give up when a worker is not running after this long; default 10 min. */
  runningTimeoutMs?: number;
  /** Give up when SSH does not answer with the pinned key after this long; default 10 min. */
  sshTimeoutMs?: number;
}

export interface WorkerContext {
  provider: CloudProvider;
  /** Where per-machine keys live (`<storageDir>/machines/<run id>`), shared with Run Toplevel and Open Terminal. */
  storageDir: string;
  /** Environment, Nix binary and working folder of the local `nix` calls (signal and onLog are set per call). */
  nix?: Omit<NixOptions, 'signal' | 'onLog'>;
}

export type WorkerState = 'creating' | 'starting' | 'ready' | 'destroyed' | 'kept' | 'orphaned';

/** One worker as the caller sees it. */
export interface WorkerInfo {
  runId: string;
  /** `thebacknd-N` once created; the run id before. */
  name: string;
  state: WorkerState;
  ip?: string;
  machine?: Machine;
  /** Derivations it built (from the `building '…' on '…'` lines). */
  builds: number;
}

export type WorkersStage = 'estimate' | 'create' | 'wait' | 'build' | 'cleanup' | 'done';

export type WorkersEvent =
  | { type: 'stage'; stage: WorkersStage; detail?: string }
  /** A line of the Nix log, or a note from the orchestration. */
  | { type: 'log'; line: string }
  | { type: 'worker'; worker: WorkerInfo }
  /** Nix handed a derivation to a worker. */
  | { type: 'remote-build'; drv: string; worker: string }
  /** The cost after the run, success or not. */
  | { type: 'cost'; report: CostReport };

export interface CostLine {
  name: string;
  /** Milliseconds from the provider's created-at to the destroy (or to now, for a kept worker). */
  ms: number;
  /** What the provider bills for that time. */
  billed: number;
  kept: boolean;
}

export interface CostReport {
  currency: 'USD' | 'EUR';
  pricePerHour: number;
  workers: CostLine[];
  total: number;
  /** Kept workers: what they cost at most if they live until their deadline. */
  keptUpperBound?: number;
  /** One sentence for logs and notifications. */
  text: string;
}

export interface WorkersResult {
  /** Output paths, `out` first. */
  outputs: string[];
  outLink: string;
  workers: WorkerInfo[];
  cost: CostReport;
}

/** A worker that answers over SSH with its pinned key: what the builder line and the shell need. */
export interface ReadyWorker {
  runId: string;
  machine: Machine;
  ip: string;
  keys: MachineKeys;
  /** The login key path as the builder line carries it (no whitespace; see builders.ts). */
  builderKeyPath: string;
  /** Its cores as `nproc` counts them on the worker; the default of its builder line's parallel jobs. */
  cores?: number;
}
