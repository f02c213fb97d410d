// The binary cache bucket, through @aws-sdk/client-s3 (loaded on first use, so activation never pays for it), and
// the translation of what S3-compatible servers answer into sentences a user can act on.

import fs from 'node:fs';
import { UserError } from '../base/errors';
import type { CacheSettings } from '../base/settings';
import type { S3Client } from '@aws-sdk/client-s3';

export interface CacheCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface BucketOptions {
  cache: CacheSettings;
  credentials: CacheCredentials;
  /** Attempts per request, retries included (the SDK's default is 3). */
  maxAttempts?: number;
  /** Milliseconds to wait for a TCP connection before calling the endpoint unreachable. */
  connectTimeoutMs?: number;
}

export interface UploadOptions {
  signal?: AbortSignal;
  /** Files at least this large go up as multipart uploads. */
  multipartThreshold: number;
  partSize: number;
  /** Parts of one file in flight at once. */
  partConcurrency: number;
  /** Bytes of this file sent so far (monotonic, ends at the file size). */
  onBytes?: (sent: number) => void;
  /** The file's SHA-256 in hex, when already known: a single PUT signs it rather than hashing the body again. */
  sha256?: string;
}

const SETTING = (k: string) => ({ kind: 'openSettings' as const, setting: `thebacknd.cache.${k}` });

/** Refuses settings that cannot work, before any network traffic. */
export function checkCacheSettings(cache: CacheSettings): void {
  if (!cache.endpoint) {
    throw new UserError('No binary cache is configured: set thebacknd.cache.endpoint (e.g. https://ams3.digitaloceanspaces.com) and thebacknd.cache.bucket.', SETTING('endpoint'));
  }
  let u: URL;
  try {
    u = new URL(cache.endpoint);
  } catch {
    throw new UserError(`The cache endpoint "${cache.endpoint}" is not a URL: use https://host[:port].`, SETTING('endpoint'));
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new UserError(`The cache endpoint "${cache.endpoint}" must start with https:// (or http:// for a local server).`, SETTING('endpoint'));
  }
  if (!cache.bucket) throw new UserError('No cache bucket is set: set thebacknd.cache.bucket.', SETTING('bucket'));
}

/** The URL machines substitute from: the public URL when set, else the endpoint and bucket (path style) or the bucket's own host. */
export function substituterUrl(cache: CacheSettings): string {
  if (cache.publicUrl) return cache.publicUrl.replace(/\/+$/, '');
  const u = new URL(cache.endpoint);
  const base = u.origin + u.pathname.replace(/\/+$/, '');
  return cache.forcePathStyle ? `${base}/${cache.bucket}` : `${u.protocol}//${cache.bucket}.${u.host}${u.pathname.replace(/\/+$/, '')}`;
}

export class Bucket {
  /** Buffers of finished single-PUT uploads, reused by the next ones (see readInto). */
  private readonly spare: Buffer[] = [];

  private constructor(
    private readonly client: S3Client,
    private readonly sdk: typeof import('@aws-sdk/client-s3'),
    readonly cache: CacheSettings,
  ) {}

  static async open(opts: BucketOptions): Promise<Bucket> {
    checkCacheSettings(opts.cache);
    // The SDK warns on every Node older than 22 (VS Code 1.100's own runtime is Node 20); nobody using the
    // extension can act on that, so it stays out of their log unless they asked for it.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const { s3: sdk } = await import('../vendor/aws');
    const client = new sdk.S3Client({
      region: opts.cache.region || 'us-east-1',
      endpoint: opts.cache.endpoint,
      forcePathStyle: opts.cache.forcePathStyle,
      credentials: { ...opts.credentials },
      requestChecksumCalculation: opts.cache.checksumMode,
      responseChecksumValidation: opts.cache.checksumMode,
      maxAttempts: opts.maxAttempts ?? 3,
      requestHandler: { connectionTimeout: opts.connectTimeoutMs ?? 10_000, requestTimeout: 300_000 },
    });
    return new Bucket(client, sdk, opts.cache);
  }

  destroy(): void {
    this.client.destroy();
  }

  /** Size of the object, or undefined when the bucket has no such key. */
  async head(key: string, signal?: AbortSignal): Promise<number | undefined> {
    try {
      const r = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.cache.bucket, Key: key }), { abortSignal: signal });
      return r.ContentLength ?? 0;
    } catch (err) {
      if (statusOf(err) === 404 || nameOf(err) === 'NotFound' || nameOf(err) === 'NoSuchKey') return undefined;
      throw this.explain(err);
    }
  }

  /**
   * One page of the keys directly under `prefix` (S3's ListObjects with a `/` delimiter, so `nar/` is one entry,
   * not every NAR), after `marker`, in key order, with each key's size (sizes[i] is keys[i]'s). Version 1 with a
   * marker: every S3-compatible server has it, and its continuation is the last key, nothing server-encrypted.
   */
  async listPage(prefix: string, marker: string | undefined, signal?: AbortSignal, maxKeys = 1000): Promise<{ keys: string[]; sizes: number[]; next: string | undefined }> {
    try {
      const r = await this.client.send(
        new this.sdk.ListObjectsCommand({ Bucket: this.cache.bucket, Prefix: prefix, Delimiter: '/', MaxKeys: maxKeys, ...(marker ? { Marker: marker } : {}) }),
        { abortSignal: signal },
      );
      const objects = (r.Contents ?? []).filter((o) => o.Key);
      const keys = objects.map((o) => o.Key!);
      const sizes = objects.map((o) => o.Size ?? 0);
      const last = [...keys, ...(r.CommonPrefixes ?? []).flatMap((p) => (p.Prefix ? [p.Prefix] : []))].sort().at(-1);
      return { keys, sizes, next: r.IsTruncated ? (r.NextMarker ?? last) : undefined };
    } catch (err) {
      throw this.explain(err);
    }
  }

  /** The object as text, or undefined when absent. A GET (unlike a HEAD) gets S3's error code in its body. */
  async getText(key: string, signal?: AbortSignal): Promise<string | undefined> {
    try {
      const r = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.cache.bucket, Key: key }), { abortSignal: signal });
      return (await r.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      if (nameOf(err) === 'NoSuchKey' || (statusOf(err) === 404 && nameOf(err) !== 'NoSuchBucket')) return undefined;
      throw this.explain(err);
    }
  }

  async put(key: string, body: Buffer | string, contentType: string, signal?: AbortSignal, sha256?: string): Promise<void> {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    const command = new this.sdk.PutObjectCommand({ Bucket: this.cache.bucket, Key: key, Body: data, ContentLength: data.length, ContentType: contentType });
    if (sha256) {
      // SigV4 signs the payload's SHA-256; the signer takes a given x-amz-content-sha256 as that hash. A server
      // that checks payloads (AWS S3) refuses a body that does not match it (XAmzContentSHA256Mismatch).
      command.middlewareStack.add(
        (next) => (args) => {
          const request = args.request as { headers?: Record<string, string> };
          if (request.headers) request.headers['x-amz-content-sha256'] = sha256;
          return next(args);
        },
        { step: 'build', name: 'thebackndKnownPayloadHash' },
      );
    }
    try {
      await this.client.send(command, { abortSignal: signal });
    } catch (err) {
      throw this.explain(err);
    }
  }

  /** Removes one object (S3 answers success for a missing key too). */
  async delete(key: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.cache.bucket, Key: key }), { abortSignal: signal });
    } catch (err) {
      throw this.explain(err);
    }
  }

  /** Uploads a file: one PUT when small, multipart (lib-storage) when large. The key appears only once complete. */
  async putFile(key: string, file: string, contentType: string, o: UploadOptions): Promise<void> {
    const size = (await fs.promises.stat(file)).size;
    if (size < o.multipartThreshold) {
      const buffer = await this.readInto(file, size);
      try {
        await this.put(key, buffer.subarray(0, size), contentType, o.signal, o.sha256);
      } finally {
        this.spare.push(buffer);
      }
      o.onBytes?.(size);
      return;
    }
    const { Upload } = (await import('../vendor/aws')).storage;
    const abortController = new AbortController();
    const onAbort = () => abortController.abort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (o.signal?.aborted) abortController.abort();
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.cache.bucket, Key: key, Body: fs.createReadStream(file), ContentType: contentType },
        partSize: o.partSize,
        queueSize: o.partConcurrency,
        leavePartsOnError: false,
        abortController,
      });
      let sent = 0;
      upload.on('httpUploadProgress', (p) => {
        if (typeof p.loaded === 'number' && p.loaded > sent) {
          sent = p.loaded;
          o.onBytes?.(Math.min(sent, size));
        }
      });
      await upload.done();
      if (sent < size) o.onBytes?.(size);
    } catch (err) {
      throw this.explain(err);
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
    }
  }

  explain(err: unknown): unknown {
    return explainS3Error(err, this.cache);
  }

  /**
   * The whole file in a buffer of at least `size` bytes, a spare one when one is large enough: a push sends many
   * files of up to the multipart threshold, and a fresh buffer for each (readFile) costs the client its pages' first
   * touch and the garbage collector's passes over memory it holds only until the PUT is answered.
   */
  private async readInto(file: string, size: number): Promise<Buffer> {
    let best = -1; // the smallest spare that holds the file
    this.spare.forEach((b, i) => {
      if (b.length >= size && (best < 0 || b.length < this.spare[best]!.length)) best = i;
    });
    const buffer = best >= 0 ? this.spare.splice(best, 1)[0]! : Buffer.allocUnsafeSlow(size);
    let fh: fs.promises.FileHandle | undefined;
    try {
      fh = await fs.promises.open(file, 'r');
      let read = 0;
      while (read < size) {
        const { bytesRead } = await fh.read(buffer, read, size - read, read);
        if (bytesRead === 0) throw new UserError(`${file} became shorter while it was read for upload (${read} of ${size} bytes). Push again.`);
        read += bytesRead;
      }
      return buffer;
    } catch (err) {
      this.spare.push(buffer);
      throw err;
    } finally {
      await fh?.close();
    }
  }
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPROTO: 'TLS or protocol error',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate does not match the host name',
};

function nameOf(err: unknown): string {
  return (err as { name?: string; Code?: string })?.Code ?? (err as { name?: string })?.name ?? '';
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function networkCode(err: unknown): string | undefined {
  const e = err as { code?: string; errors?: unknown[]; cause?: unknown; name?: string };
  if (e?.code && Object.hasOwn(NETWORK_CODES, e.code)) return e.code;
  if (e?.name === 'TimeoutError') return 'ETIMEDOUT';
  for (const inner of [...(e?.errors ?? []), e?.cause]) {
    const c = inner ? networkCode(inner) : undefined;
    if (c) return c;
  }
  return undefined;
}

/**
 * A UserError for what an S3-compatible server (or the network) answered. Aborts pass through untouched, so a
 * cancelled push stays a cancellation. Credentials never appear: only the endpoint, the bucket and S3's code.
 */
export function explainS3Error(err: unknown, cache: Pick<CacheSettings, 'endpoint' | 'bucket' | 'region'>): unknown {
  if (err instanceof UserError) return err;
  const name = nameOf(err);
  if (name === 'AbortError') return err;
  const where = `the cache at ${cache.endpoint}`;
  const net = networkCode(err);
  if (net) {
    return new UserError(
      `Cannot reach ${where} (${NETWORK_CODES[net]}). Check thebacknd.cache.endpoint and your network connection.`,
      SETTING('endpoint'),
      `${name || 'Error'}: ${net}`,
    );
  }
  const status = statusOf(err);
  const s3message = (err as { message?: string })?.message ?? '';
  const detail = `${name}${status ? ` (HTTP ${status})` : ''}: ${s3message}`.slice(0, 500);
  const creds = { kind: 'setToken' as const, provider: 'cache' };
  switch (name) {
    case 'InvalidAccessKeyId':
      return new UserError(`${cap(where)} does not know this access key ID: set the cache credentials again.`, creds, detail);
    case 'SignatureDoesNotMatch':
      return new UserError(`${cap(where)} rejected the secret access key (the signature does not match): set the cache credentials again.`, creds, detail);
    case 'InvalidToken':
    case 'ExpiredToken':
    case 'TokenRefreshRequired':
      return new UserError(`${cap(where)} rejected the session token (${name}): set the cache credentials again.`, creds, detail);
    case 'AccessDenied':
    case 'AllAccessDisabled':
      return new UserError(`Access denied to bucket "${cache.bucket}" at ${cache.endpoint}: the cache key needs read and write access to it.`, creds, detail);
    case 'NoSuchBucket':
      return new UserError(`Bucket "${cache.bucket}" does not exist at ${cache.endpoint}: create it or fix thebacknd.cache.bucket.`, SETTING('bucket'), detail);
    case 'AuthorizationHeaderMalformed':
    case 'PermanentRedirect':
    case 'IllegalLocationConstraintException':
      return new UserError(`Bucket "${cache.bucket}" is not in region "${cache.region}": fix thebacknd.cache.region.`, SETTING('region'), detail);
    case 'XAmzContentSHA256Mismatch':
    case 'BadDigest':
      return new UserError(
        `${cap(where)} refused an upload whose bytes do not match the checksum they were sent with: a staged file changed on disk while it was sent. Push again.`,
        undefined,
        detail,
      );
    case 'RequestTimeTooSkewed':
      return new UserError(`${cap(where)} rejected the request because this computer's clock is wrong; fix the clock and retry.`, undefined, detail);
  }
  if (status === 403) {
    return new UserError(`Access denied to bucket "${cache.bucket}" at ${cache.endpoint} (HTTP 403): check the cache credentials and their permissions.`, creds, detail);
  }
  if (status === 301 || status === 307) {
    return new UserError(`Bucket "${cache.bucket}" answered with a redirect: check thebacknd.cache.region and thebacknd.cache.forcePathStyle.`, SETTING('region'), detail);
  }
  if (status !== undefined) {
    return new UserError(`${cap(where)} answered HTTP ${status}${name && !/^\d+$/.test(name) ? ` (${name})` : ''}.`, undefined, detail);
  }
  return new UserError(`Talking to ${where} failed: ${s3message.split('\n')[0] || name || 'unknown error'}.`, undefined, detail);
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Credentials from the standard AWS variables, or undefined when either half is missing. */
export function cacheCredentialsFromEnv(env: NodeJS.ProcessEnv): CacheCredentials | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim();
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = env.AWS_SESSION_TOKEN?.trim();
  return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
}
