// Import Base Image, for either cloud: what the command and `thebacknd import-image` share. The caller supplies the
// token, the settings and (DigitalOcean) the cache credentials; this picks the import, names the image and turns
// each cloud's progress into one status line.

import { UserError } from '../base/errors';
import type { Settings } from '../base/settings';
import { checkCacheSettings, type CacheCredentials } from '../nix/s3';
import { createProvider, type ProviderOptions } from '../providers';
import type { ProviderId } from '../providers/types';
import { checkDigitalOceanImageName, dotsImageApi, importDigitalOceanImage, type DigitalOceanImportOptions, type ImportProgress } from './digitalocean';
import { HetznerImageApi } from './hetzner-api';
import { checkHetznerImageName, importHetznerImage, type HetznerImportOptions, type HetznerImportProgress } from './hetzner';
import { BUILD_WORKER_SIZE, withBuildWorker, type BuildWorkerOptions, type BuiltImage } from './build-worker';

export { DEFAULT_IMAGE_FILE, defaultImagePath, findImageFile } from './files';
export { localImageBuild, type LocalImageBuild } from './local-build';
export { shippedFlakeDir } from './flake-dir';
export { BUILD_WORKER_SIZE } from './build-worker';

export interface ImportImageRequest {
  provider: ProviderId;
  /** The image file or its build output directory (unused with buildOnWorker). */
  file: string;
  /**
   * Build the image on a temporary server first (build-worker.ts), for a computer that cannot build x86_64-linux:
   * `flakeDir` is the image flake (the extension's nix/ folder); the worker's type is `size` or the settings'.
   */
  buildOnWorker?: { flakeDir: string } & Partial<Pick<BuildWorkerOptions, 'systemImage' | 'pollMs' | 'runningTimeoutMs' | 'sshTimeoutMs' | 'leaseMinutes'>>;
  /** Default: defaultImageName(). */
  name?: string;
  token: string;
  /** API base URL; empty = the real cloud. */
  endpoint?: string;
  settings: Settings;
  /** Where to import (DigitalOcean region) or where the temporary server runs (Hetzner location); default the settings'. */
  region?: string;
  /** Hetzner: the temporary server's type; default the settings' size. */
  size?: string;
  /** DigitalOcean: keys of the cache bucket the image is uploaded to. */
  credentials?: CacheCredentials;
  signal?: AbortSignal;
  onStatus?: (s: ImportStatus) => void;
  log?: (line: string) => void;
  /** Lower-level knobs (tests, unusual setups). */
  providerOptions?: Partial<ProviderOptions>;
  digitalocean?: Partial<Pick<DigitalOceanImportOptions, 'pollIntervalMs' | 'timeoutMs' | 'partSize'>>;
  hetzner?: Partial<
    Pick<HetznerImportOptions, 'device' | 'sshPort' | 'systemImage' | 'pollIntervalMs' | 'serverTimeoutMs' | 'sshTimeoutMs' | 'snapshotTimeoutMs' | 'leaseMinutes'>
  >;
}

export interface ImportStatus {
  message: string;
  /** 0–1 when the step can tell (upload, write, snapshot). */
  fraction?: number;
}

export interface ImportImageResult {
  provider: ProviderId;
  imageId: string;
  name: string;
  /** The setting that should hold the id. */
  setting: string;
  /** One sentence about what was made. */
  summary: string;
  /** Hetzner: the rescue system's host key, accepted on first use (`SHA256:…`). */
  hostKey?: string;
  warnings: string[];
}

/** `thebacknd-base-20261123-1743` (UTC): valid as a DigitalOcean image name and a Hetzner label value. */
export function defaultImageName(now = new Date()): string {
  const t = now.toISOString();
  return `thebacknd-base-${t.slice(0, 10).replace(/-/g, '')}-${t.slice(11, 16).replace(':', '')}`;
}

export async function importImage(req: ImportImageRequest): Promise<ImportImageResult> {
  const worker = req.buildOnWorker;
  if (!worker) return importFrom(req);
  // What would fail the import is checked before a worker builds for it.
  const named = { ...req, name: req.name ?? defaultImageName() };
  if (req.provider === 'digitalocean') checkDigitalOceanImageName(named.name);
  else checkHetznerImageName(named.name);
  const endpoint = req.endpoint || req.settings[req.provider].endpoint || undefined;
  const provider = createProvider(req.provider, { ...req.providerOptions, token: req.token, ...(endpoint ? { endpoint } : {}) });
  if (req.provider === 'digitalocean') checkDigitalOcean(req);
  return withBuildWorker(
    {
      ...worker,
      provider,
      region: req.region || req.settings[req.provider].region,
      // Not the machines' default size: a build needs more memory than a small machine has.
      size: req.size || BUILD_WORKER_SIZE[req.provider],
      signal: req.signal,
      log: req.log ?? (() => undefined),
      onStatus: (message) => req.onStatus?.({ message }),
    },
    (built) => importFrom(named, built),
  );
}

/** DigitalOcean imports from the cache bucket: its settings and keys are checked before anything is made. */
function checkDigitalOcean(req: ImportImageRequest): CacheCredentials {
  checkCacheSettings(req.settings.cache);
  if (!req.credentials) throw new UserError('The image is uploaded to the cache bucket first: set the cache credentials.', { kind: 'setToken', provider: 'cache' });
  return req.credentials;
}

/** The import proper, of a local file or of the image a build worker holds. */
async function importFrom(req: ImportImageRequest, built?: BuiltImage): Promise<ImportImageResult> {
  const name = req.name ?? defaultImageName();
  const setting = `thebacknd.${req.provider}.image`;
  const status = req.onStatus ?? (() => undefined);
  const endpoint = req.endpoint || req.settings[req.provider].endpoint || undefined;
  if (req.provider === 'digitalocean') {
    const cache = req.settings.cache;
    const credentials = checkDigitalOcean(req);
    const region = req.region || req.settings.digitalocean.region;
    const r = await importDigitalOceanImage({
      image: built ? { fileName: built.path.split('/').pop()!, upload: built.upload } : req.file,
      name,
      region,
      api: dotsImageApi(req.token, endpoint),
      cache,
      credentials,
      signal: req.signal,
      onProgress: (p) => status(describeDigitalOcean(p)),
      ...req.digitalocean,
    });
    return {
      provider: 'digitalocean',
      imageId: r.imageId,
      name,
      setting,
      summary: `DigitalOcean custom image ${r.imageId} (${name}) is available in ${region}.`,
      warnings: [],
    };
  }
  const location = req.region || req.settings.hetzner.region;
  const provider = createProvider('hetzner', { ...req.providerOptions, token: req.token, ...(endpoint ? { endpoint } : {}) });
  const api = new HetznerImageApi({ token: req.token, endpoint, ...(req.providerOptions?.retry ? { retry: req.providerOptions.retry } : {}) });
  const r = await importHetznerImage({
    image: built ? built.source : req.file,
    name,
    location,
    serverType: req.size || req.settings.hetzner.size,
    provider,
    api,
    signal: req.signal,
    onProgress: (p) => status(describeHetzner(p)),
    log: req.log,
    ...req.hetzner,
  });
  return {
    provider: 'hetzner',
    imageId: r.imageId,
    name,
    setting,
    summary: `Hetzner snapshot ${r.imageId} (${name}) is available; it boots on server types with a disk of at least ${r.diskGb} GB.`,
    hostKey: r.hostKey,
    warnings: r.warnings,
  };
}

export function describeDigitalOcean(p: ImportProgress): ImportStatus {
  switch (p.phase) {
    case 'upload':
      return { message: `uploading to the cache bucket: ${mib(p.sent ?? 0)} of ${mib(p.total ?? 0)}`, fraction: p.total ? (p.sent ?? 0) / p.total : undefined };
    case 'import':
      return { message: `DigitalOcean is importing the image (${p.status ?? 'new'})` };
    case 'done':
      return { message: 'imported', fraction: 1 };
  }
}

export function describeHetzner(p: HetznerImportProgress): ImportStatus {
  const server = p.server ?? 'the temporary server';
  switch (p.phase) {
    case 'server':
      return { message: p.server ? `starting ${server}` : 'creating a temporary server' };
    case 'rescue':
      return { message: `booting ${server} into the rescue system` };
    case 'connect':
      return { message: p.hostKey ? `connected to the rescue system (host key ${p.hostKey})` : `waiting for the rescue system of ${server}` };
    case 'write':
      return { message: `writing the image to the disk: ${mib(p.sent ?? 0)} of ${mib(p.total ?? 0)}`, fraction: p.total ? (p.sent ?? 0) / p.total : undefined };
    case 'snapshot':
      return { message: `snapshotting the disk: ${p.percent ?? 0}%`, fraction: (p.percent ?? 0) / 100 };
    case 'cleanup':
      return { message: `deleting ${server} and the import key` };
    case 'done':
      return { message: 'imported', fraction: 1 };
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
