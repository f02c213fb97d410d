// The AWS SDK parts Thebacknd uses (the S3 client, its multipart upload, URL presigning), in one module so that they
// share one copy of the SDK's core; reached through `await import('../vendor/aws')`, which the bundle resolves to its
// own file (dist/vendor/aws.js, scripts/esbuild-options.cjs), so activation neither loads nor parses it.
export * as s3 from '@aws-sdk/client-s3';
export * as storage from '@aws-sdk/lib-storage';
export * as presigner from '@aws-sdk/s3-request-presigner';
