// `thebacknd push <store-path>…`: sign a closure and upload what the binary cache lacks. Cache settings come from
// flags, else from THEBACKND_CACHE_* variables; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.

import { push, type PushProgress, type PushResult } from '../nix/push';
import { requireStorePath } from '../nix/storePath';
import { refuse, UsageError } from './args';
import { CACHE_HELP, CACHE_OPTIONS, cacheFlagsOf, cacheFromFlags, credentialsFromEnv, oldCacheSpellings, S3_STYLE_OPTIONS, UPLOAD_OPTIONS, type CacheFlags } from './cache-flags';
import { CLOUD_OPTIONS, type CommandSpec } from './command';
import { wholeNumber } from './numbers';

/** What push-like code needs of the CLI's io (CliIo from context.ts has it all). */
export interface PushIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** The cache options of `push` and `build --push`. */
export const PUSH_OPTIONS = { ...CACHE_OPTIONS, ...S3_STYLE_OPTIONS, ...UPLOAD_OPTIONS };

const DETAILS = `push [options] <store-path>...

Signs the closure of each store path and uploads to the binary cache whatever it lacks (NARs before narinfos).
Ctrl-C stops cleanly; running the same command again resumes.

${CACHE_HELP}`;

/** What push and build say when cancelled. */
export const RESUMABLE = { said: 'cancelled. Run the same command again to resume.' };

export const PUSH_COMMAND: CommandSpec = {
  name: 'push',
  summary: 'sign a closure and upload what the S3 binary cache lacks',
  usage: DETAILS,
  options: PUSH_OPTIONS,
  deprecated: oldCacheSpellings(['endpoint', 'bucket', 'region']),
  cancel: RESUMABLE,
  async run(ctx, { values, positionals }) {
    refuse(values, CLOUD_OPTIONS, "push talks to no cloud API (the cache's endpoint is --cache-endpoint).");
    if (positionals.length === 0) throw new UsageError('push: which store path?');
    const paths = positionals.map((p) => requireStorePath(p).storePath);
    await pushPaths(paths, cacheFlagsOf(values), ctx.io, ctx.signal);
    ctx.io.stdout.write(`${paths.join('\n')}\n`);
    return 0;
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
