// Import Base Image, for either cloud: what the command and `thebacknd import-image` share. The caller supplies the
// token, the settings and (DigitalOcean) the cache credentials; this picks the import, names the image and turns
// each cloud's progress into one status line.

import { UserError } from '../base/errors';
import type { Settings } from '../base/settings';
import { checkCacheSettings, type CacheCredentials } from '../nix/s3';
import { createProvider, type ProviderOptions } from '../providers';
import type { ProviderId } from '../providers/types';
import { dotsImageApi, importDigitalOceanImage, type DigitalOceanImportOptions, type ImportProgress } from './digitalocean';
import { HetznerImageApi } from './hetzner-api';
import { importHetznerImage, type HetznerImportOptions, type HetznerImportProgress } from './hetzner';

export { DEFAULT_IMAGE_FILE, defaultImagePath, findImageFile } from './files';

export interface ImportImageRequest {
  provider: ProviderId;
  /** The image file or its build output directory. */
  file: string;
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
  const name = req.name ?? defaultImageName();
  const setting = `thebacknd.${req.provider}.image`;
  const status = req.onStatus ?? (() => undefined);
  const endpoint = req.endpoint || req.settings[req.provider].endpoint || undefined;
  if (req.provider === 'digitalocean') {
    const cache = req.settings.cache;
    checkCacheSettings(cache);
    if (!req.credentials) throw new UserError('The image is uploaded to the cache bucket first: set the cache credentials.', { kind: 'setToken', provider: 'cache' });
    const region = req.region || req.settings.digitalocean.region;
    const r = await importDigitalOceanImage({
      image: req.file,
      name,
      region,
      api: dotsImageApi(req.token, endpoint),
      cache,
      credentials: req.credentials,
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
    image: req.file,
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
