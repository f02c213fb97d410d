// `thebacknd deploy <machine> [what]`: switch a running machine to a new toplevel, with magic rollback. The stages
// and the machine's deploy log go to stderr; `NAME STORE-PATH OUTCOME` to stdout. Exit 0 when the machine runs the
// new toplevel, 1 when it rolled back or failed, 130 when cancelled (the machine then switches back by itself).

import path from 'node:path';
import { isAbort, UserError } from '../base/errors';
import { DEFAULTS, type Settings } from '../base/settings';
import { appendDeployHistory, bytes, DEFAULT_CONFIRM_TIMEOUT_SECONDS, deployToMachine, recordOf, type DeployEvent, type DeployPayload } from '../deploy';
import { findFlakes } from '../nix/flake';
import { isExplicitInstallable, resolveTarget } from '../nix/installable';
import { cacheCredentialsFromEnv } from '../nix/s3';
import { requireStorePath } from '../nix/storePath';
import { transferOf } from '../run/ports';
import { UsageError, type ProviderCommand } from './command';
import type { CliContext } from './context';
import { findMachine } from './lookup';
import { cliStateDir } from './placement';
import { cacheFromFlags } from './push';

const MAX_CONFIRM_SECONDS = 3600;

const deploy: ProviderCommand = {
  name: 'deploy',
  summary: 'switch a running machine to a new toplevel; it rolls back by itself unless SSH still answers',
  usage: `deploy <machine> [configuration-name | installable | /nix/store/…] [--no-rollback] [--confirm-timeout S]
         [--flake DIR] [--state-dir DIR] [--cache-endpoint URL --cache-bucket B --signing-key-file F | --no-cache]

Builds the toplevel (default: the flake's only nixosConfigurations entry), pushes what the binary cache lacks (or,
without a cache, copies what the machine lacks over the pinned SSH connection), switches the machine and confirms
over a new SSH session. Without that confirmation within --confirm-timeout seconds (default ${DEFAULT_CONFIRM_TIMEOUT_SECONDS}) the machine
switches back to its previous generation by itself. The machine's deadline does not change.`,
  options: {
    flake: { type: 'string' },
    'state-dir': { type: 'string' },
    'no-rollback': { type: 'boolean' },
    'confirm-timeout': { type: 'string' },
    'deploy-command': { type: 'string' },
    'cache-endpoint': { type: 'string' },
    'cache-bucket': { type: 'string' },
    'cache-region': { type: 'string' },
    'cache-url': { type: 'string' },
    'signing-key-file': { type: 'string' },
    'no-cache': { type: 'boolean' },
  },
  async run(ctx, { values, positionals }) {
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError('deploy takes a machine and at most one thing to deploy: deploy thebacknd-1 [name | installable | /nix/store/…]');
    const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
    const confirm = confirmSeconds(str('confirm-timeout'), Boolean(values['no-rollback']));
    const settings = settingsFrom(str, Boolean(values['no-cache']), ctx.io.env);
    const cacheCredentials = cacheCredentialsFromEnv(ctx.io.env);
    if (cacheCredentials) ctx.secrets.push(cacheCredentials.secretAccessKey, ...(cacheCredentials.sessionToken ? [cacheCredentials.sessionToken] : []));
    const flakeDir = path.resolve(str('flake') ?? process.cwd());
    const keysRoot = cliStateDir(ctx.io.env, str('state-dir'));

    const ctl = new AbortController();
    const onSignal = (): void => ctl.abort();
    ctx.io.signal?.addEventListener('abort', onSignal, { once: true });
    if (!ctx.io.signal) for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, onSignal);
    try {
      const { machine } = await findMachine(ctx, positionals[0]!);
      if (machine.status !== 'running') throw new UserError(`${machine.name} is ${machine.status}, not running: nothing to deploy to.`);
      const payload = await payloadOf(positionals[1], flakeDir, { env: ctx.io.env, cwd: flakeDir, signal: ctl.signal });
      const transfer = transferOf(settings);
      const result = await deployToMachine(
        {
          settings,
          keysRoot,
          flakeDir,
          nix: { env: ctx.io.env },
          ...(cacheCredentials ? { cacheCredentials } : {}),
          ...(str('deploy-command') ? { deployCommand: str('deploy-command')! } : {}),
        },
        { machine, payload, transfer, confirmTimeoutSeconds: confirm },
        ctl.signal,
        printer(ctx),
      );
      if (machine.runId) await appendDeployHistory(keysRoot, machine.runId, recordOf(result));
      ctx.err(`Sent ${bytes(result.uploadedBytes)} (${result.uploadedPaths} new path${result.uploadedPaths === 1 ? '' : 's'}); the machine fetched ${bytes(result.fetchedBytes)}.`);
      ctx.out(`${machine.name} ${result.storePath} ${result.outcome}`);
      if (result.outcome === 'rolled-back') ctx.err(`thebacknd: ${machine.name} rolled back to ${result.previous ?? 'its previous generation'}: ${result.reason}`);
      if (result.outcome === 'failed') ctx.err(`thebacknd: the deploy to ${machine.name} failed: ${result.reason}`);
      return result.outcome === 'switched' || result.outcome === 'confirmed' ? 0 : 1;
    } catch (err) {
      if (ctl.signal.aborted || isAbort(err)) {
        ctx.err('thebacknd: cancelled; the machine switches back to its previous generation.');
        return 130;
      }
      throw err;
    } finally {
      ctx.io.signal?.removeEventListener('abort', onSignal);
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(s, onSignal);
    }
  },
};

export const DEPLOY_COMMANDS = [deploy];

function confirmSeconds(flag: string | undefined, noRollback: boolean): number {
  if (noRollback) {
    if (flag !== undefined) throw new UsageError('--no-rollback and --confirm-timeout exclude each other.');
    return 0;
  }
  if (flag === undefined) return DEFAULT_CONFIRM_TIMEOUT_SECONDS;
  const n = Number(flag);
  if (!(Number.isInteger(n) && n >= 1 && n <= MAX_CONFIRM_SECONDS)) throw new UsageError(`--confirm-timeout must be whole seconds from 1 to ${MAX_CONFIRM_SECONDS}.`);
  return n;
}

function settingsFrom(str: (k: string) => string | undefined, noCache: boolean, env: NodeJS.ProcessEnv): Settings {
  const flags = {
    ...(str('cache-endpoint') !== undefined ? { endpoint: str('cache-endpoint')! } : {}),
    ...(str('cache-bucket') !== undefined ? { bucket: str('cache-bucket')! } : {}),
    ...(str('cache-region') !== undefined ? { region: str('cache-region')! } : {}),
    ...(str('signing-key-file') !== undefined ? { 'signing-key-file': str('signing-key-file')! } : {}),
  };
  const cache = cacheFromFlags(flags, env);
  cache.publicUrl = str('cache-url') ?? env.THEBACKND_CACHE_PUBLIC_URL ?? '';
  if (noCache) {
    cache.endpoint = '';
    cache.publicUrl = '';
  }
  return { ...DEFAULTS, cache };
}

async function payloadOf(arg: string | undefined, flakeDir: string, nix: { env: NodeJS.ProcessEnv; cwd: string; signal: AbortSignal }): Promise<DeployPayload> {
  if (arg?.startsWith('/nix/store/')) {
    const ref = requireStorePath(arg);
    if (ref.kind !== 'toplevel') throw new UsageError(`${arg} is a file inside a store path; deploy takes a toplevel (${ref.storePath}).`);
    return { kind: 'toplevel', storePath: ref.storePath };
  }
  if (!(arg && isExplicitInstallable(arg)) && findFlakes([flakeDir]).length === 0) {
    throw new UserError(`No flake.nix in ${flakeDir}: use --flake DIR, or name an installable or a store path.`);
  }
  const target = await resolveTarget(arg, flakeDir, nix);
  return target.config ? { kind: 'configuration', flakeRef: path.resolve(flakeDir), name: target.config } : { kind: 'installable', installable: target.installable };
}

function printer(ctx: CliContext): (e: DeployEvent) => void {
  return (e) => {
    if (e.type === 'stage') ctx.err(`[${e.at.toISOString().slice(11, 19)}] ${e.stage}${e.detail ? ` ${e.detail}` : ''}`);
    else if (e.type === 'log') ctx.err(e.line);
    else ctx.err(`  ${e.message}`);
  };
}
