// Typed settings, shared by the extension (from getConfiguration) and the CLI (from flags and environment).
// The manifest's `contributes.configuration` declares the same keys; a unit test keeps the two in step.

import type { ProviderId } from './provider-id';

export interface CacheSettings {
  endpoint: string;
  bucket: string;
  region: string;
  /** The URL machines substitute from (http(s)://…); empty = derived from endpoint and bucket. */
  publicUrl: string;
  trustedPublicKey: string;
  signingKeyFile: string;
  /** `WHEN_REQUIRED` suits most S3-compatible servers; AWS itself accepts `WHEN_SUPPORTED`. */
  checksumMode: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
  forcePathStyle: boolean;
  /** Machines need read credentials for the cache (sent over SSH after boot, never in user-data). */
  private: boolean;
}

export interface ProviderSettings {
  region: string;
  size: string;
  image: string;
  /** API base URL override (the local emulator); empty = the real cloud. */
  endpoint: string;
  /** A command printing the API token (e.g. a password manager), used when no token is stored or in the environment. */
  tokenCommand: string;
}

export interface Settings {
  defaultProvider: ProviderId;
  digitalocean: ProviderSettings;
  hetzner: ProviderSettings;
  maxAgeMinutes: number;
  reapIntervalMinutes: number;
  cache: CacheSettings;
  /** A failed run keeps its machine (until its deadline) for inspection, instead of destroying it. */
  keepRunOnFailure: boolean;
  keepWorkersOnFailure: boolean;
  deploy: DeploySettings;
}

export interface DeploySettings {
  /** Redeploy to the machine last deployed to in this window when files of the flake change. */
  onSave: boolean;
  /** Seconds a machine waits for the confirmation over a new SSH session before it switches back by itself. */
  confirmTimeoutSeconds: number;
}

export const DEFAULTS: Settings = {
  defaultProvider: 'digitalocean',
  digitalocean: { region: 'ams3', size: 's-1vcpu-1gb', image: '', endpoint: '', tokenCommand: '' },
  hetzner: { region: 'fsn1', size: 'cx22', image: '', endpoint: '', tokenCommand: '' },
  maxAgeMinutes: 60,
  reapIntervalMinutes: 20,
  cache: {
    endpoint: '',
    bucket: '',
    region: 'us-east-1',
    publicUrl: '',
    trustedPublicKey: '',
    signingKeyFile: '',
    checksumMode: 'WHEN_REQUIRED',
    forcePathStyle: true,
    private: false,
  },
  keepRunOnFailure: false,
  keepWorkersOnFailure: false,
  deploy: { onSave: false, confirmTimeoutSeconds: 30 },
};

/** Bounds, mirrored in the manifest. */
export const BOUNDS = {
  maxAgeMinutes: { min: 5, max: 1440 },
  reapIntervalMinutes: { min: 1, max: 120 },
  confirmTimeoutSeconds: { min: 5, max: 3600 },
} as const;

/** Clamps numbers into their bounds and fills blanks from the defaults, so a bad setting never breaks a run. */
export function normalise(partial: DeepPartial<Settings>): Settings {
  const s: Settings = {
    ...DEFAULTS,
    ...stripUndefined(partial),
    digitalocean: { ...DEFAULTS.digitalocean, ...stripUndefined(partial.digitalocean ?? {}) },
    hetzner: { ...DEFAULTS.hetzner, ...stripUndefined(partial.hetzner ?? {}) },
    cache: { ...DEFAULTS.cache, ...stripUndefined(partial.cache ?? {}) },
    deploy: { ...DEFAULTS.deploy, ...stripUndefined(partial.deploy ?? {}) },
  } as Settings;
  s.deploy.confirmTimeoutSeconds = clamp(s.deploy.confirmTimeoutSeconds, BOUNDS.confirmTimeoutSeconds, DEFAULTS.deploy.confirmTimeoutSeconds);
  s.maxAgeMinutes = clamp(s.maxAgeMinutes, BOUNDS.maxAgeMinutes, DEFAULTS.maxAgeMinutes);
  s.reapIntervalMinutes = clamp(s.reapIntervalMinutes, BOUNDS.reapIntervalMinutes, DEFAULTS.reapIntervalMinutes);
  if (s.defaultProvider !== 'digitalocean' && s.defaultProvider !== 'hetzner') s.defaultProvider = DEFAULTS.defaultProvider;
  return s;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

function clamp(v: unknown, b: { min: number; max: number }, fallback: number): number {
  const n = typeof v === 'number' && Number.isFinite(v) ? v : fallback;
  return Math.min(b.max, Math.max(b.min, n));
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
