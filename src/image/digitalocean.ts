// Imports the DigitalOcean base image (nix build ./nix#digitalocean-image → nixos.qcow2.gz): upload it to the
// cache bucket, hand DigitalOcean a presigned link (POST /v2/images), wait until the image is available, and
// return its id for the setting thebacknd.digitalocean.image. The uploaded file is removed once imported.
// vscode-free: the command and the CLI (`thebacknd import-image`) both drive it.

import fs from 'node:fs';
import path from 'node:path';
import { isAbort, UserError } from '../base/errors';
import type { CacheSettings } from '../base/settings';
import { Bucket, type CacheCredentials } from '../nix/s3';
import { apiBase } from '../providers/options';
import { TAG } from '../providers/types';
import { findImageFile } from './files';
import { bucketObjects } from './presign';

export type ImportPhase = 'upload' | 'import' | 'done';

export interface ImportProgress {
  phase: ImportPhase;
  /** Upload: bytes sent of total. */
  sent?: number;
  total?: number;
  /** Import: DigitalOcean's image status (NEW, pending, available). */
  status?: string;
}

/** The part of DigitalOcean's API the import uses. */
export interface DoImageApi {
  create(req: { name: string; url: string; region: string; distribution: string; description: string; tags: string[] }): Promise<DoImage>;
  get(id: number): Promise<DoImage>;
}

export interface DoImage {
  id: number;
  status: string;
  error_message?: string;
  regions: string[];
}

/** An image that is not here (on the build worker): it uploads itself to a presigned PUT URL. */
export interface RemoteImage {
  /** Its file name, for the object key's extension. */
  fileName: string;
  upload(url: string, signal?: AbortSignal): Promise<void>;
}

export interface DigitalOceanImportOptions {
  /** The image file, or a build output directory holding one (*.qcow2.gz, *.qcow2.bz2, *.qcow2), or a remote image. */
  image: string | RemoteImage;
  /** Image name shown in DigitalOcean, e.g. `thebacknd-base-2026-11-23`. */
  name: string;
  region: string;
  api: DoImageApi;
  cache: CacheSettings;
  credentials: CacheCredentials;
  signal?: AbortSignal;
  onProgress?: (p: ImportProgress) => void;
  /** Default 5 s. */
  pollIntervalMs?: number;
  /** How long DigitalOcean may take to fetch and process the image; default 60 min. */
  timeoutMs?: number;
  /** Multipart settings for the upload (defaults suit images of a few GB). */
  partSize?: number;
}

export async function importDigitalOceanImage(o: DigitalOceanImportOptions): Promise<{ imageId: string; name: string }> {
  const file = typeof o.image === 'string' ? findImageFile(o.image, 'digitalocean') : o.image.fileName;
  checkDigitalOceanImageName(o.name);
  const key = `images/${o.name}${path.basename(file).replace(/^[^.]*/, '')}`;
  const bucket = await Bucket.open({ cache: o.cache, credentials: o.credentials });
  const objects = await bucketObjects(o.cache, o.credentials);
  try {
    if (typeof o.image === 'string') {
      const total = fs.statSync(file).size;
      o.onProgress?.({ phase: 'upload', sent: 0, total });
      const partSize = Math.max(o.partSize ?? 64 * 1024 * 1024, 5 * 1024 * 1024);
      await bucket.putFile(key, file, 'application/octet-stream', {
        signal: o.signal,
        multipartThreshold: partSize,
        partSize,
        partConcurrency: 4,
        onBytes: (sent) => o.onProgress?.({ phase: 'upload', sent, total }),
      });
    } else {
      // From the worker: a link to write this one object for an hour; no key of the bucket leaves this computer.
      o.onProgress?.({ phase: 'upload' });
      await o.image.upload(await objects.presignPut(key, 3600), o.signal);
    }
    // DigitalOcean fetches the link itself, possibly after queueing: let it live as long as we are willing to wait.
    const timeoutMs = o.timeoutMs ?? 60 * 60_000;
    const url = await objects.presignGet(key, Math.min(7 * 24 * 3600, Math.ceil(timeoutMs / 1000) + 600));
    const image = await o.api.create({
      name: o.name,
      url,
      region: o.region,
      distribution: 'Unknown',
      description: 'Thebacknd base image (NixOS with the boot agent)',
      tags: [TAG],
    });
    o.onProgress?.({ phase: 'import', status: image.status });
    const ready = await waitAvailable(o, image.id, timeoutMs);
    await objects.delete(key, o.signal).catch(() => undefined);
    o.onProgress?.({ phase: 'done', status: ready.status });
    return { imageId: String(ready.id), name: o.name };
  } finally {
    bucket.destroy();
    objects.destroy();
  }
}

export function checkDigitalOceanImageName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) {
    throw new UserError(`"${name}" is not a valid image name: use letters, digits, dots, dashes and underscores.`);
  }
}

async function waitAvailable(o: DigitalOceanImportOptions, id: number, timeoutMs: number): Promise<DoImage> {
  const deadline = Date.now() + timeoutMs;
  // Quick checks first (a small image is ready in seconds), then every pollIntervalMs.
  const poll = o.pollIntervalMs ?? 5000;
  let delay = Math.min(500, poll);
  let last = '';
  for (;;) {
    if (o.signal?.aborted) throw o.signal.reason ?? new Error('aborted');
    const img = await o.api.get(id);
    if (img.status !== last) o.onProgress?.({ phase: 'import', status: img.status });
    last = img.status;
    if (img.status === 'available') return img;
    if (img.status === 'deleted') {
      throw new UserError(`DigitalOcean could not import the image: ${img.error_message || 'it was deleted during the import'}.`);
    }
    if (Date.now() > deadline) {
      throw new UserError(`DigitalOcean has not finished importing the image after ${Math.round(timeoutMs / 60_000)} min (status ${img.status}).`);
    }
    await sleep(delay, o.signal);
    delay = Math.min(poll, delay * 2);
  }
}

/** DoImageApi over dots-wrapper; `endpoint` points it at another API base (the emulator). */
export function dotsImageApi(token: string, endpoint?: string): DoImageApi {
  // dots-wrapper is loaded on the first request (src/vendor/dots.ts).
  const client = import('../vendor/dots').then(({ createApiClient }) => createApiClient({ token, endpoint: apiBase(endpoint, 'https://api.digitalocean.com', 'v2') }));
  return {
    async create(req) {
      try {
        return (await (await client).image.createCustomImage(req)).data.image;
      } catch (err) {
        throw explainDoError(err);
      }
    },
    async get(id) {
      try {
        return (await (await client).image.getImage({ image_id: id })).data.image;
      } catch (err) {
        throw explainDoError(err);
      }
    },
  };
}

function explainDoError(err: unknown): unknown {
  if (isAbort(err)) return err;
  const res = (err as { response?: { status?: number; data?: { message?: string } } }).response;
  if (res?.status === 401) return new UserError('DigitalOcean rejected the API token: set a valid one.', { kind: 'setToken', provider: 'digitalocean' });
  if (res?.status) return new UserError(`DigitalOcean refused the image import (HTTP ${res.status}): ${res.data?.message ?? 'no reason given'}.`);
  return new UserError(`DigitalOcean could not be reached: ${(err as Error).message ?? String(err)}.`);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason ?? new Error('aborted'));
      },
      { once: true },
    );
  });
}
