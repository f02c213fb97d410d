// A binary cache made for the user on DigitalOcean Spaces: a bucket (S3 CreateBucket at the Spaces endpoint) and an
// access key limited to it (/v2/spaces/keys). Creating a bucket needs S3 credentials, and a key scoped to a bucket
// is best made once the bucket exists, so a short-lived full-access key creates the bucket and is deleted again
// however this ends. The cache is private (an s3:// URL): machines get the key over the pinned SSH connection.
// vscode-free: the extension stores the result in SecretStorage and the settings.

import { UserError } from '../base/errors';
import type { CacheSettings } from '../base/settings';
import { apiBase } from '../providers/options';
import type { CacheCredentials } from '../nix/s3';
import { bucketProblem, spacesEndpoint } from './cache-form';

export interface SpacesOptions {
  token: string;
  /** DigitalOcean API base (the emulator in tests); default https://api.digitalocean.com/v2. */
  apiEndpoint?: string;
  region: string;
  bucket: string;
  /** The Spaces S3 endpoint; default https://<region>.digitaloceanspaces.com (s3rver in tests). */
  s3Endpoint?: string;
  signal?: AbortSignal;
  onStep?: (message: string) => void;
}

export interface SpacesCache {
  cache: Pick<CacheSettings, 'endpoint' | 'bucket' | 'region' | 'publicUrl' | 'private' | 'forcePathStyle'>;
  credentials: CacheCredentials;
  /** The key's access key id, to revoke it later from the DigitalOcean control panel. */
  keyName: string;
}

interface KeyAnswer {
  key: { access_key: string; secret_key?: string; name: string };
}

export async function createSpacesCache(o: SpacesOptions): Promise<SpacesCache> {
  const problem = bucketProblem(o.bucket);
  if (problem) throw new UserError(`Bucket "${o.bucket}": ${problem}`);
  const base = apiBase(o.apiEndpoint, 'https://api.digitalocean.com', 'v2');
  const endpoint = (o.s3Endpoint ?? spacesEndpoint(o.region)).replace(/\/+$/, '');
  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let r: Response;
    try {
      r = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
        ...(body ? { body: JSON.stringify(body) } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (err) {
      o.signal?.throwIfAborted();
      throw new UserError(`Cannot reach the DigitalOcean API (${(err as Error).message}).`);
    }
    if (r.status === 401) throw new UserError('DigitalOcean did not accept the token.', { kind: 'setToken', provider: 'digitalocean' });
    if (r.status === 403)
      throw new UserError('The DigitalOcean token may not create Spaces keys: give it the spaces_key scopes (create_credentials, delete), or set up the cache by hand.');
    if (!r.ok) {
      const text = await r.text().catch(() => '');
      const message = /"message"\s*:\s*"([^"]{1,200})"/.exec(text)?.[1];
      throw new UserError(`DigitalOcean answered HTTP ${r.status} to ${method} ${path}${message ? `: ${message}` : ''}.`);
    }
    return (r.status === 204 ? undefined : await r.json()) as T;
  };

  const suffix = Date.now().toString(36);
  o.onStep?.('Creating a short-lived key to create the bucket');
  const temp = (await api<KeyAnswer>('POST', '/spaces/keys', { name: `thebacknd-setup-${suffix}`, grants: [{ bucket: '', permission: 'fullaccess' }] })).key;
  try {
    o.onStep?.(`Creating the bucket ${o.bucket} in ${o.region}`);
    await createBucket(endpoint, o.bucket, { accessKeyId: temp.access_key, secretAccessKey: temp.secret_key ?? '' }, o.signal);
    o.onStep?.('Creating a key limited to the bucket');
    const keyName = `thebacknd-cache-${o.bucket}`;
    const limited = (await api<KeyAnswer>('POST', '/spaces/keys', { name: keyName, grants: [{ bucket: o.bucket, permission: 'readwrite' }] })).key;
    if (!limited.secret_key) throw new UserError('DigitalOcean returned the new key without its secret.');
    const host = new URL(endpoint);
    const query = `endpoint=${host.host}${host.protocol === 'http:' ? '&scheme=http' : ''}`;
    return {
      cache: { endpoint, bucket: o.bucket, region: 'us-east-1', publicUrl: `s3://${o.bucket}?${query}`, private: true, forcePathStyle: true },
      credentials: { accessKeyId: limited.access_key, secretAccessKey: limited.secret_key },
      keyName,
    };
  } finally {
    // The full-access key never outlives this function, success or not.
    await api('DELETE', `/spaces/keys/${encodeURIComponent(temp.access_key)}`).catch(() => undefined);
  }
}

async function createBucket(endpoint: string, bucket: string, credentials: CacheCredentials, signal?: AbortSignal): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { s3 } = await import('../vendor/aws');
  const client = new s3.S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials, requestChecksumCalculation: 'WHEN_REQUIRED', maxAttempts: 2 });
  try {
    await client.send(new s3.CreateBucketCommand({ Bucket: bucket }), signal ? { abortSignal: signal } : {});
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'BucketAlreadyOwnedByYou') return; // yours already: reuse it
    if (name === 'BucketAlreadyExists') throw new UserError(`The bucket name "${bucket}" is taken (bucket names are global): choose another.`);
    throw new UserError(`Creating the bucket ${bucket} at ${endpoint} failed: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    client.destroy();
  }
}
