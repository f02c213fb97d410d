// `thebacknd doctor`: every prerequisite of a first machine, checked for real (src/setup/checks.ts), one line each
// with the fix of what is missing. Creates and bills nothing. Exit status 0 when all is ready, 1 when a step is missing.

import { UserError } from '../base/errors';
import { cacheCredentialsFromEnv } from '../nix/s3';
import type { CloudProvider, ProviderId } from '../providers/types';
import { checkSetup, type CheckResult } from '../setup/checks';
import { str, strings, UsageError, type Args } from './args';
import { CACHE_OPTIONS, MACHINE_CACHE_OPTIONS, settingsFromFlags } from './cache-flags';
import type { CommandSpec } from './command';
import type { CliContext } from './context';
import { IMAGE_ENV } from './placement';

/** The same cache flags and environment variables as `thebacknd run`. */
const OPTIONS = { ...strings('region', 'image'), ...CACHE_OPTIONS, ...MACHINE_CACHE_OPTIONS };

const MARK = { ok: 'ok  ', missing: 'MISS', skipped: 'skip' } as const;

export function formatResults(results: readonly CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.title.length));
  return results
    .map((r) => {
      const line = `${MARK[r.status]}  ${r.title.padEnd(width)}  ${r.detail}`;
      return r.fix && r.status === 'missing' ? `${line}\n      ${' '.repeat(width)}  fix: ${r.fix.cli}` : line;
    })
    .join('\n');
}

async function doctor(ctx: CliContext, { values }: Args): Promise<number> {
  const settings = settingsFromFlags(values, ctx.io.env);
  let provider: CloudProvider | undefined;
  let providerId: ProviderId = (str(values, 'provider') as ProviderId | undefined) ?? settings.defaultProvider;
  try {
    provider = ctx.oneProvider();
    providerId = provider.id;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    if (err.fix?.kind === 'setToken' && err.fix.provider) providerId = err.fix.provider as ProviderId;
  }
  const region = str(values, 'region');
  if (region !== undefined && !region.trim()) throw new UsageError('--region is empty.');
  const image = str(values, 'image') ?? ctx.io.env[IMAGE_ENV[providerId]];
  const credentials = cacheCredentialsFromEnv(ctx.io.env);
  const results = await checkSetup({
    providerId,
    provider,
    settings,
    ...(region ? { region } : {}),
    ...(image ? { image } : {}),
    credentials,
    nix: { env: ctx.io.env },
    secrets: ctx.secrets,
  });
  ctx.out(formatResults(results));
  const missing = results.filter((r) => r.status === 'missing');
  ctx.err(
    missing.length
      ? `${missing.length} step${missing.length > 1 ? 's' : ''} missing: fix the first one and run thebacknd doctor again.`
      : 'Ready: thebacknd run can create a machine.',
  );
  return missing.length ? 1 : 0;
}

export const DOCTOR_COMMANDS: CommandSpec[] = [
  {
    name: 'doctor',
    summary: 'check every prerequisite (token, base image, cache, signing key, nix) and say how to fix what is missing',
    usage:
      'doctor [--region R] [--image I] [--cache-endpoint URL --cache-bucket NAME] [--cache-url URL] [--signing-key-file F] [--trusted-public-key K] [--private-cache] [--no-cache]\n\n' +
      'Cache flags and variables are those of thebacknd run (THEBACKND_CACHE_*, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).\n' +
      'The cache check writes and deletes one object under thebacknd-doctor/; nothing else is created.',
    options: OPTIONS,
    run: doctor,
  },
];
