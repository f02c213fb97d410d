// The binary cache on the command line: one set of names for every command (--cache-endpoint, --cache-bucket,
// --cache-region, …), each flag falling back to its THEBACKND_* variable, and one builder from flags to settings.
// --endpoint and --region are the cloud's (global option, placement) in every command; push and build --push spelt
// the cache's that way before #18, which main still accepts for one release, with a warning (OLD_CACHE_SPELLINGS).

import { UserError } from '../base/errors';
import { DEFAULTS, type CacheSettings, type Settings } from '../base/settings';
import { cacheCredentialsFromEnv, type CacheCredentials } from '../nix/s3';
import { flags, str, strings, type Values } from './args';
import type { DeprecatedAlias } from './command';

/** Where the cache is: every command that uses one. */
export const CACHE_OPTIONS = strings('cache-endpoint', 'cache-bucket', 'cache-region');
/** How to speak S3 to it (push, build --push, import-image). */
export const S3_STYLE_OPTIONS = { ...strings('checksum-mode'), ...flags('virtual-host-style') };
/** Signing and uploading (push, build --push). */
export const UPLOAD_OPTIONS = { ...strings('signing-key-file', 'concurrency'), ...flags('no-sign') };
/** What machines substitute from (run, doctor; deploy takes the first two and --no-cache). */
export const MACHINE_CACHE_OPTIONS = { ...strings('signing-key-file', 'cache-url', 'trusted-public-key'), ...flags('private-cache', 'no-cache') };

/**
 * The old spellings of the cache's location; `when` limits them to the mode of a command that took them. --endpoint
 * with --provider is the cloud's API, as in every command (and refused where no cloud is spoken to).
 */
export function oldCacheSpellings(names: readonly ('endpoint' | 'bucket' | 'region')[], when: DeprecatedAlias['when'] = () => true): DeprecatedAlias[] {
  return names.map((old) => ({ old, now: `cache-${old}`, when: (v) => when(v) && !(old === 'endpoint' && v.provider !== undefined) }));
}

export const CACHE_HELP = `Cache options (flag, else environment variable):
  --cache-endpoint URL      THEBACKND_CACHE_ENDPOINT   S3-compatible endpoint, e.g. https://ams3.digitaloceanspaces.com
  --cache-bucket NAME       THEBACKND_CACHE_BUCKET
  --cache-region REGION     THEBACKND_CACHE_REGION     (default us-east-1)
  --signing-key-file FILE   THEBACKND_SIGNING_KEY_FILE secret key from 'thebacknd keygen'
  --checksum-mode MODE      THEBACKND_CACHE_CHECKSUM_MODE  WHEN_REQUIRED (default) or WHEN_SUPPORTED
  --virtual-host-style      bucket.host URLs instead of host/bucket (path style is the default)
  --no-sign                 upload without signing (machines will refuse unsigned paths)
  --concurrency N           parallel uploads (default 4)
(push and build --push still take --endpoint, --bucket, --region for the first three until the next release, with a warning.)
Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN if needed).
`;

/** The cache flags under the names of the cache's settings (what cacheFromFlags reads). */
export interface CacheFlags {
  endpoint?: string;
  bucket?: string;
  region?: string;
  'signing-key-file'?: string;
  'checksum-mode'?: string;
  'virtual-host-style'?: boolean;
  'no-sign'?: boolean;
  concurrency?: string;
}

/** Parsed command-line values as CacheFlags (only those given). */
export function cacheFlagsOf(values: Values): CacheFlags {
  const out: Record<string, string | boolean> = {};
  const names: [keyof CacheFlags, string][] = [
    ['endpoint', 'cache-endpoint'],
    ['bucket', 'cache-bucket'],
    ['region', 'cache-region'],
    ['signing-key-file', 'signing-key-file'],
    ['checksum-mode', 'checksum-mode'],
    ['concurrency', 'concurrency'],
  ];
  for (const [to, from] of names) {
    const v = str(values, from);
    if (v !== undefined) out[to] = v;
  }
  for (const b of ['virtual-host-style', 'no-sign'] as const) if (values[b] === true) out[b] = true;
  return out as CacheFlags;
}

export function cacheFromFlags(flags: CacheFlags, env: NodeJS.ProcessEnv): CacheSettings {
  const mode = flags['checksum-mode'] ?? env.THEBACKND_CACHE_CHECKSUM_MODE ?? DEFAULTS.cache.checksumMode;
  if (mode !== 'WHEN_REQUIRED' && mode !== 'WHEN_SUPPORTED') {
    throw new UserError(`--checksum-mode must be WHEN_REQUIRED or WHEN_SUPPORTED, not "${mode}".`);
  }
  return {
    ...DEFAULTS.cache,
    endpoint: flags.endpoint ?? env.THEBACKND_CACHE_ENDPOINT ?? '',
    bucket: flags.bucket ?? env.THEBACKND_CACHE_BUCKET ?? '',
    region: flags.region ?? env.THEBACKND_CACHE_REGION ?? DEFAULTS.cache.region,
    signingKeyFile: flags['signing-key-file'] ?? env.THEBACKND_SIGNING_KEY_FILE ?? '',
    checksumMode: mode,
    forcePathStyle: !flags['virtual-host-style'],
  };
}

/** The settings of a command that makes machines use the cache (run, doctor, deploy): one builder, flags over variables. */
export function settingsFromFlags(values: Values, env: NodeJS.ProcessEnv): Settings {
  const cache = cacheFromFlags(cacheFlagsOf(values), env);
  cache.publicUrl = str(values, 'cache-url') ?? env.THEBACKND_CACHE_PUBLIC_URL ?? '';
  cache.trustedPublicKey = str(values, 'trusted-public-key') ?? env.THEBACKND_CACHE_TRUSTED_PUBLIC_KEY ?? '';
  cache.private = values['private-cache'] === true;
  if (values['no-cache']) {
    cache.endpoint = '';
    cache.publicUrl = '';
  }
  return { ...DEFAULTS, cache };
}

export function credentialsFromEnv(env: NodeJS.ProcessEnv): CacheCredentials {
  const c = cacheCredentialsFromEnv(env);
  if (!c) throw new UserError("Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to the binary cache's access key.");
  return c;
}
