// The provider-neutral model every layer above src/providers/ speaks. vscode-free.

import type { ProviderId } from '../base/provider-id';

// The id itself lives on the ground floor (tokens and settings are keyed by it); re-exported for the model's users.
export type { ProviderId };

/** Normalised lifecycle: DigitalOcean new/active/off/archive and Hetzner initializing/starting/running/... map here. */
export type MachineStatus = 'creating' | 'running' | 'off' | 'destroying';

export interface Machine {
  /** The provider's own id, as a string (DigitalOcean and Hetzner both use integers). */
  id: string;
  provider: ProviderId;
  /** `thebacknd-N`. */
  name: string;
  /** `thebacknd-<uuid>`, unique per create request; the key for exactly-once creates. */
  runId: string | undefined;
  status: MachineStatus;
  ipv4: string | undefined;
  ipv6: string | undefined;
  region: string;
  size: string;
  /** Price per hour in the provider's currency (USD for DigitalOcean, EUR for Hetzner). */
  pricePerHour: number | undefined;
  currency: 'USD' | 'EUR';
  /** ISO 8601, from the provider. */
  createdAt: string;
  /** ISO 8601, stored on the machine itself (DigitalOcean tag, Hetzner label); undefined when unset. */
  deadline: string | undefined;
  /**
   * The toplevel the machine switches to, when known. Read back from the cloud it is `/nix/store/<hash>` only:
   * tags and labels cannot hold a full store path (no `.` in DigitalOcean tags, 63 characters in Hetzner labels).
   * Compare with `sameStorePath()` from src/providers/tags.ts.
   */
  toplevel: string | undefined;
  /**
   * Whether the machine carries the `thebacknd` tag/label. `list()` returns tagged machines only (true); `get()`
   * may return an untagged one (false). Code that destroys anything must skip `tagged === false`.
   */
  tagged?: boolean;
}

export interface Region {
  slug: string;
  name: string;
  available: boolean;
}
export interface Size {
  slug: string;
  cpus: number;
  memoryGiB: number;
  diskGiB: number;
  /** The cheapest hourly price among its regions (Hetzner prices differ per location). */
  pricePerHour: number;
  currency: 'USD' | 'EUR';
  regions: string[];
  /** Hourly price per region when it differs between regions (Hetzner). */
  pricesByRegion?: Record<string, number>;
}
export interface Image {
  id: string;
  name: string;
  kind: 'custom' | 'snapshot' | 'distribution' | 'other';
  status?: string;
  /** Regions the image can be created in (DigitalOcean); undefined = every region (Hetzner images are global). */
  regions?: string[];
}

export interface CreateRequest {
  region: string;
  size: string;
  image: string;
  /** The cloud-init user-data: JSON with no long-lived secret in it. */
  userData: string;
  /** Absolute deadline; stored on the machine. */
  deadline: Date;
  /** Recorded on the machine for the tree and the reaper. */
  toplevel?: string;
  /** Preset for tests or callers that need one; a fresh `thebacknd-<uuid>` otherwise. */
  runId?: string;
  /** Optional provider SSH key ids to install (DigitalOcean keys / Hetzner ssh_keys). */
  sshKeys?: string[];
  /** false = IPv6 only (Hetzner charges for IPv4 addresses; DigitalOcean always gives one). Default true. */
  ipv4?: boolean;
  /**
   * Names of the tagged machines from a listing the caller made moments ago: the first attempt picks its name from
   * them instead of listing again (one round trip less before the create); a clash lists afresh, as always.
   */
  knownNames?: readonly string[];
}

/** What the caller gets back: the machine, and the server's clock at the time of the answer. */
export interface ListResult {
  machines: Machine[];
  serverTime: Date;
}

export interface CloudProvider {
  readonly id: ProviderId;
  /** Tagged machines only, across all pages. */
  list(signal?: AbortSignal): Promise<ListResult>;
  get(id: string, signal?: AbortSignal): Promise<Machine | undefined>;
  /** Exactly once: a lost answer is resolved by looking the run id up before any retry. */
  create(req: CreateRequest, signal?: AbortSignal): Promise<Machine>;
  /** Fetches once what every create of this client needs (Hetzner: the project SSH key), so a caller can overlap it with other work. */
  prepareCreate?(signal?: AbortSignal): Promise<void>;
  /** Idempotent: a machine already gone is success. Refuses untagged machines. */
  destroy(id: string, signal?: AbortSignal): Promise<void>;
  destroyByRunId(runId: string, signal?: AbortSignal): Promise<number>;
  setDeadline(id: string, deadline: Date, signal?: AbortSignal): Promise<void>;
  powerOff?(id: string, signal?: AbortSignal): Promise<void>;
  regions(signal?: AbortSignal): Promise<Region[]>;
  sizes(signal?: AbortSignal): Promise<Size[]>;
  images(signal?: AbortSignal): Promise<Image[]>;
}

export const TAG = 'thebacknd';
