// `thebacknd deploy <machine> [what]`: switch a running machine to a new toplevel, with magic rollback. The stages
// and the machine's deploy log go to stderr; `NAME STORE-PATH OUTCOME` to stdout. Exit 0 when the machine runs the
// new toplevel, 1 when it rolled back or failed, 130 when cancelled (the machine then switches back by itself).

import path from 'node:path';
import { UserError } from '../base/errors';
import { appendDeployHistory, bytes, DEFAULT_CONFIRM_TIMEOUT_SECONDS, deployToMachine, recordOf, type DeployEvent, type DeployPayload } from '../deploy';
import { findFlakes } from '../nix/flake';
import { isExplicitInstallable, resolveTarget } from '../nix/installable';
import { cacheCredentialsFromEnv } from '../nix/s3';
import { requireStorePath } from '../nix/storePath';
import { transferOf } from '../run/ports';
import { flags, str, strings, UsageError } from './args';
import { CACHE_OPTIONS, settingsFromFlags } from './cache-flags';
import type { CommandSpec } from './command';
import type { CliContext } from './context';
import { findMachine } from './lookup';
import { cliStateDir } from './placement';

const MAX_CONFIRM_SECONDS = 3600;

const deploy: CommandSpec = {
  name: 'deploy',
  summary: 'switch a running machine to a new toplevel; it rolls back by itself unless SSH still answers',
  usage: `deploy <machine> [configuration-name | installable | /nix/store/…] [--no-rollback] [--confirm-timeout S]
         [--flake DIR] [--state-dir DIR] [--cache-endpoint URL --cache-bucket B --signing-key-file F | --no-cache]

Builds the toplevel (default: the flake's only nixosConfigurations entry), pushes what the binary cache lacks (or,
without a cache, copies what the machine lacks over the pinned SSH connection), switches the machine and confirms
over a new SSH session. Without that confirmation within --confirm-timeout seconds (default ${DEFAULT_CONFIRM_TIMEOUT_SECONDS}) the machine
switches back to its previous generation by itself. The machine's deadline does not change.`,
  options: { ...strings('flake', 'state-dir', 'confirm-timeout', 'deploy-command', 'signing-key-file', 'cache-url'), ...flags('no-rollback', 'no-cache'), ...CACHE_OPTIONS },
  cancel: { said: 'cancelled; the machine switches back to its previous generation.' },
  async run(ctx, { values, positionals }) {
    if (positionals.length < 1 || positionals.length > 2)
      throw new UsageError('deploy takes a machine and at most one thing to deploy: deploy thebacknd-1 [name | installable | /nix/store/…]');
    const confirm = confirmSeconds(str(values, 'confirm-timeout'), Boolean(values['no-rollback']));
    const settings = settingsFromFlags(values, ctx.io.env);
    const cacheCredentials = cacheCredentialsFromEnv(ctx.io.env);
    const flakeDir = path.resolve(str(values, 'flake') ?? process.cwd());
    const keysRoot = cliStateDir(ctx.io.env, str(values, 'state-dir'));
    const deployCommand = str(values, 'deploy-command');
    const { machine } = await findMachine(ctx, positionals[0]!);
    if (machine.status !== 'running') throw new UserError(`${machine.name} is ${machine.status}, not running: nothing to deploy to.`);
    const payload = await payloadOf(positionals[1], flakeDir, { env: ctx.io.env, cwd: flakeDir, signal: ctx.signal });
    const transfer = transferOf(settings);
    const result = await deployToMachine(
      {
        settings,
        keysRoot,
        flakeDir,
        nix: { env: ctx.io.env },
        ...(cacheCredentials ? { cacheCredentials } : {}),
        ...(deployCommand ? { deployCommand } : {}),
      },
      { machine, payload, transfer, confirmTimeoutSeconds: confirm },
      ctx.signal,
      printer(ctx),
    );
    if (machine.runId) await appendDeployHistory(keysRoot, machine.runId, recordOf(result));
    ctx.err(`Sent ${bytes(result.uploadedBytes)} (${result.uploadedPaths} new path${result.uploadedPaths === 1 ? '' : 's'}); the machine fetched ${bytes(result.fetchedBytes)}.`);
    ctx.out(`${machine.name} ${result.storePath} ${result.outcome}`);
    if (result.outcome === 'rolled-back') ctx.err(`thebacknd: ${machine.name} rolled back to ${result.previous ?? 'its previous generation'}: ${result.reason}`);
    if (result.outcome === 'failed') ctx.err(`thebacknd: the deploy to ${machine.name} failed: ${result.reason}`);
    return result.outcome === 'switched' || result.outcome === 'confirmed' ? 0 : 1;
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
