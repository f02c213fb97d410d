// Time-limited download links to objects of the cache bucket, so that a cloud can fetch an image from a private
// bucket (DigitalOcean imports custom images from a URL). Signing is local: no request is sent here.

import type { CacheSettings } from '../base/settings';
import type { CacheCredentials } from '../nix/s3';

export interface BucketObjects {
  /** A GET URL for the key, valid for `expiresInSeconds`. */
  presignGet(key: string, expiresInSeconds: number): Promise<string>;
  delete(key: string, signal?: AbortSignal): Promise<void>;
  destroy(): void;
}

export async function bucketObjects(cache: CacheSettings, credentials: CacheCredentials): Promise<BucketObjects> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { s3: sdk, presigner } = await import('../vendor/aws');
  const { getSignedUrl } = presigner;
  const client = new sdk.S3Client({
    region: cache.region || 'us-east-1',
    endpoint: cache.endpoint,
    forcePathStyle: cache.forcePathStyle,
    credentials: { ...credentials },
    requestChecksumCalculation: cache.checksumMode,
    responseChecksumValidation: cache.checksumMode,
  });
  return {
    presignGet: (key, expiresIn) => getSignedUrl(client, new sdk.GetObjectCommand({ Bucket: cache.bucket, Key: key }), { expiresIn }),
    async delete(key, signal) {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: cache.bucket, Key: key }), { abortSignal: signal });
    },
    destroy: () => client.destroy(),
  };
}
