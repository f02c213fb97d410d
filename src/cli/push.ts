// `thebacknd push <store-path>…`: sign a closure and upload what the binary cache lacks. Cache settings come from
// flags, else from THEBACKND_CACHE_* variables; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.

import { isAbort, messageOf, redact, UserError } from '../base/errors';
import { DEFAULTS, type CacheSettings } from '../base/settings';
import { push, type PushProgress, type PushResult } from '../nix/push';
import { cacheCredentialsFromEnv, type CacheCredentials } from '../nix/s3';
import { requireStorePath } from '../nix/storePath';
import { CLOUD_OPTIONS, refuse, UsageError, type ProviderCommand } from './command';
import { wholeNumber } from './numbers';
import { cancelOn } from './signals';

/** What push-like code needs of the CLI's io (CliIo from context.ts has it all). */
export interface PushIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Cancels the command; when absent, Ctrl-C (SIGINT) does. */
  signal?: AbortSignal;
}

/** The shape cacheFromFlags reads (run and import-image map their own flag names onto it). */
export const CACHE_OPTIONS = {
  endpoint: { type: 'string' },
  bucket: { type: 'string' },
  region: { type: 'string' },
  'signing-key-file': { type: 'string' },
  'checksum-mode': { type: 'string' },
  'virtual-host-style': { type: 'boolean' },
  'no-sign': { type: 'boolean' },
  concurrency: { type: 'string' },
} as const;

/**
 * The cache options of `push` and `build --push`, named as `run` names them: --endpoint and --region are global
 * (the cloud's API) or placement options in the one parser, so the cache's own carry a cache- prefix.
 */
export const CACHE_CLI_OPTIONS = {
  'cache-endpoint': { type: 'string' },
  'cache-bucket': { type: 'string' },
  'cache-region': { type: 'string' },
  'signing-key-file': { type: 'string' },
  'checksum-mode': { type: 'string' },
  'virtual-host-style': { type: 'boolean' },
  'no-sign': { type: 'boolean' },
  concurrency: { type: 'string' },
} as const;

/** CACHE_CLI_OPTIONS' values as cacheFromFlags reads them. */
export function cacheFlagsOf(values: Readonly<Record<string, unknown>>): CacheFlags {
  const s = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const flags: { -readonly [K in keyof CacheFlags]: CacheFlags[K] } = {};
  const put = <K extends keyof CacheFlags>(k: K, v: CacheFlags[K] | undefined): void => {
    if (v !== undefined) flags[k] = v;
  };
  put('endpoint', s('cache-endpoint'));
  put('bucket', s('cache-bucket'));
  put('region', s('cache-region'));
  put('signing-key-file', s('signing-key-file'));
  put('checksum-mode', s('checksum-mode'));
  put('concurrency', s('concurrency'));
  if (values['virtual-host-style'] === true) flags['virtual-host-style'] = true;
  if (values['no-sign'] === true) flags['no-sign'] = true;
  return flags;
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
Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN if needed).
`;

const DETAILS = `push [options] <store-path>...

Signs the closure of each store path and uploads to the binary cache whatever it lacks (NARs before narinfos).
Ctrl-C stops cleanly; running the same command again resumes.

${CACHE_HELP}`;

export type CacheFlags = { [K in keyof typeof CACHE_OPTIONS]?: (typeof CACHE_OPTIONS)[K]['type'] extends 'string' ? string : boolean };

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

export function credentialsFromEnv(env: NodeJS.ProcessEnv): CacheCredentials {
  const c = cacheCredentialsFromEnv(env);
  if (!c) throw new UserError('Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to the binary cache\'s access key.');
  return c;
}

export const PUSH_COMMAND: ProviderCommand = {
  name: 'push',
  summary: 'sign a closure and upload what the S3 binary cache lacks',
  usage: DETAILS,
  options: CACHE_CLI_OPTIONS,
  async run(ctx, { values, positionals }) {
    refuse(values, CLOUD_OPTIONS, "push talks to no cloud API (the cache's endpoint is --cache-endpoint).");
    if (positionals.length === 0) throw new UsageError('push: which store path?');
    return withCancel(ctx.io, async (signal) => {
      const paths = positionals.map((p) => requireStorePath(p).storePath);
      await pushPaths(paths, cacheFlagsOf(values), ctx.io, signal);
      ctx.io.stdout.write(`${paths.join('\n')}\n`);
      return 0;
    });
  },
};

/** Shared by `push` and `build --push`: the push itself with progress on stderr. */
export async function pushPaths(paths: string[], flags: CacheFlags, io: PushIo, signal: AbortSignal): Promise<PushResult> {
  const cache = cacheFromFlags(flags, io.env);
  const credentials = credentialsFromEnv(io.env);
  const concurrency = flags.concurrency !== undefined ? wholeNumber(flags.concurrency, '--concurrency', 1, 64) : undefined;
  const ticker = progressPrinter(io.stderr);
  const result = await push(paths, {
    cache,
    credentials,
    sign: !flags['no-sign'],
    uploadConcurrency: concurrency,
    nix: { env: io.env },
    signal,
    onLog: (l) => io.stderr.write(`${l}\n`),
    onProgress: ticker,
  });
  io.stderr.write(
    `pushed ${result.uploadedPaths} of ${result.closure} paths (${mb(result.uploadedBytes)} sent; ${result.alreadyPresent} already in the cache` +
      `${result.reusedNars ? `, ${result.reusedNars} NARs left by an earlier push reused` : ''}) in ${result.seconds.toFixed(1)} s\n`,
  );
  return result;
}

function progressPrinter(out: NodeJS.WritableStream): (p: Readonly<PushProgress>) => void {
  let last = 0;
  let phase = '';
  return (p) => {
    const now = Date.now();
    if (p.phase === phase && now - last < 2000) return;
    phase = p.phase;
    last = now;
    if (p.phase === 'uploading') {
      out.write(`uploading: ${p.pathsUploaded}/${p.pathsMissing} paths, ${mb(p.bytesUploaded)} sent\n`);
    } else if (p.phase === 'checking' && p.pathsTotal) {
      out.write(`checking: ${p.pathsChecked}/${p.pathsTotal} paths\n`);
    }
  };
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Runs a command body with cancellation (io.signal or Ctrl-C) and prints failures as one readable message plus the
 * lines that matter. Exit codes: 0 ok, 1 failure, 130 cancelled (143, 129, 131 for SIGTERM, SIGHUP, SIGQUIT).
 */
export async function withCancel(io: PushIo, body: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const cancel = cancelOn(io.signal);
  try {
    return await body(cancel.signal);
  } catch (err) {
    if (err instanceof UsageError) throw err; // main prints it, exit 2
    if (isAbort(err)) {
      io.stderr.write('thebacknd: cancelled. Run the same command again to resume.\n');
      return cancel.exitCode();
    }
    const secrets = [io.env.AWS_SECRET_ACCESS_KEY ?? '', io.env.AWS_SESSION_TOKEN ?? ''];
    io.stderr.write(`thebacknd: ${messageOf(err, secrets)}\n`);
    if (err instanceof UserError && err.detail) io.stderr.write(`${redact(err.detail, secrets).replace(/^/gm, '  ')}\n`);
    return 1;
  } finally {
    cancel.dispose();
  }
}
