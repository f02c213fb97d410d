// `thebacknd reaper deploy|status|remove`: the cloud reaper on DigitalOcean Functions (src/cloud-reaper/deploy.ts),
// which destroys machines past their deadline while no VS Code window and no CLI runs. Deploy binds the tokens to
// the actions (never printed, never in a process argument) and keeps the destroy-self secret in a 0600 file in the
// state folder, from which `thebacknd run` gives each machine its own destroy-self code.

import { UserError } from '../base/errors';
import { BOUNDS } from '../base/settings';
import { PROVIDER_LABEL, PROVIDERS, TOKEN_ENV } from '../base/tokens';
import { describeCost } from '../cloud-reaper/cost';
import { deployReaper, reaperStatus, removeReaper, REAPER_LABEL } from '../cloud-reaper/deploy';
import { forgetReaperState, reaperStatePath, saveReaperState } from '../cloud-reaper/local-state';
import { cronFor } from '../cloud-reaper/schedule';
import type { ProviderId } from '../providers/types';
import { UsageError } from './args';
import type { CommandSpec } from './command';
import type { CliContext } from './context';
import { duration } from './format';
import { cliStateDir } from './placement';
import { INSTALL_OPTIONS, INSTALL_USAGE, reaperInstall } from './reaper-local';

const VERBS = ['deploy', 'status', 'remove', 'install'] as const;

const reaper: CommandSpec = {
  name: 'reaper',
  summary: 'deploy, inspect or remove the cloud reaper (DigitalOcean Functions), which reaps while nothing else runs',
  usage: `reaper deploy [--interval MIN] [--max-age MIN] [--region R] [--state-dir DIR]
       reaper status [--limit N]
       reaper remove [--yes] [--state-dir DIR]
       ${INSTALL_USAGE}

deploy   create or update the "${REAPER_LABEL}" Functions namespace: the actions list, destroy-old, destroy-all and
         destroy-self, and a trigger running destroy-old every --interval minutes (default 20; must divide the
         hour, or the day in whole hours). The tokens (every provider with one, or --provider's only; the
         DigitalOcean token is always needed) are bound to the actions. Prints the monthly cost.
status   the trigger, its next run, and the last activations with the machines they destroyed
remove   delete the trigger, the actions and, if deploy created it, the namespace
install  --local: without DigitalOcean Functions, a systemd user timer (Linux), launchd agent (macOS) or crontab
         line (elsewhere, or --crontab) running this thebacknd's destroy-old for --provider every --every minutes
         (default 20), reading the token from --token-file (mode 0600); --remove undoes it`,
  options: {
    interval: { type: 'string' },
    'max-age': { type: 'string' },
    region: { type: 'string' },
    'state-dir': { type: 'string' },
    limit: { type: 'string' },
    yes: { type: 'boolean', short: 'y' },
    ...INSTALL_OPTIONS,
  },
  async run(ctx, { values, positionals }) {
    const verb = positionals[0];
    if (positionals.length !== 1 || !(VERBS as readonly string[]).includes(verb ?? '')) {
      throw new UsageError(`reaper takes one of ${VERBS.join(', ')}: thebacknd reaper deploy`);
    }
    const only = (allowed: string[]) => {
      for (const k of ['interval', 'max-age', 'region', 'state-dir', 'limit', 'yes', ...Object.keys(INSTALL_OPTIONS)]) {
        if (values[k] !== undefined && !allowed.includes(k)) throw new UsageError(`--${k} does not apply to reaper ${verb}.`);
      }
    };
    const stateDir = cliStateDir(ctx.io.env, values['state-dir'] as string | undefined);
    if (verb === 'install') {
      only(Object.keys(INSTALL_OPTIONS));
      return reaperInstall(ctx, values);
    }
    if (verb === 'deploy') {
      only(['interval', 'max-age', 'region', 'state-dir']);
      return deploy(ctx, values, stateDir);
    }
    if (verb === 'status') {
      only(['limit']);
      return status(ctx, minutes(values.limit as string | undefined, '--limit', 10, { min: 1, max: 100 }));
    }
    only(['yes', 'state-dir']);
    return remove(ctx, values.yes === true, stateDir);
  },
};

export const REAPER_COMMANDS: CommandSpec[] = [reaper];

function doToken(ctx: CliContext): { token: string; endpoint?: string } {
  const { token, endpoint } = ctx.credentials('digitalocean');
  if (!token) {
    throw new UserError(`The cloud reaper runs on DigitalOcean Functions: set ${TOKEN_ENV.digitalocean} (or --provider digitalocean --token-file FILE).`, {
      kind: 'setToken',
      provider: 'digitalocean',
    });
  }
  return { token, ...(endpoint ? { endpoint } : {}) };
}

function endpoints(ctx: CliContext): Partial<Record<ProviderId, string>> {
  const out: Partial<Record<ProviderId, string>> = {};
  for (const p of PROVIDERS) {
    const e = ctx.credentials(p).endpoint;
    if (e) out[p] = e;
  }
  return out;
}

async function deploy(ctx: CliContext, values: Record<string, unknown>, stateDir: string): Promise<number> {
  const interval = minutes(values.interval as string | undefined, '--interval', ctx.settings.reapIntervalMinutes, BOUNDS.reapIntervalMinutes);
  try {
    cronFor(interval);
  } catch (e) {
    throw new UsageError((e as Error).message.replace('(thebacknd.reapIntervalMinutes)', '(--interval)'));
  }
  const maxAge = minutes(values['max-age'] as string | undefined, '--max-age', ctx.settings.maxAgeMinutes, BOUNDS.maxAgeMinutes);
  const region = values.region as string | undefined;
  if (region !== undefined && !/^[a-z]{3}\d$/.test(region)) throw new UsageError(`--region must be a DigitalOcean region such as ams3 or nyc1 (got "${region}").`);
  const { token } = doToken(ctx);
  const reaped = (ctx.explicitProvider ? [ctx.explicitProvider] : PROVIDERS).filter((p) => ctx.credentials(p).token);
  const hetznerToken = reaped.includes('hetzner') ? ctx.credentials('hetzner').token : undefined;
  const d = await deployReaper({
    digitaloceanToken: token,
    ...(hetznerToken ? { hetznerToken } : {}),
    endpoints: endpoints(ctx),
    intervalMinutes: interval,
    maxAgeMinutes: maxAge,
    ...(region ? { region } : {}),
    ...(ctx.io.providerOptions?.retry ? { retry: ctx.io.providerOptions.retry } : {}),
    log: (line) => ctx.err(line),
  });
  const file = saveReaperState(stateDir, d);
  ctx.out(
    `Cloud reaper deployed in namespace ${d.namespace} (${d.region}): destroy-old every ${d.intervalMinutes} min (${d.trigger.cron})` +
      (d.trigger.nextRunAt ? `, next run ${d.trigger.nextRunAt}.` : '.'),
  );
  ctx.out(
    `It reaps tagged ${reaped.map((p) => PROVIDER_LABEL[p]).join(' and ')} machines: past their deadline, powered off, duplicated, or without a deadline and older than ${d.maxAgeMinutes} min.`,
  );
  ctx.out(`Machines created from now on get their own destroy-self code; the secret behind the codes is kept in ${file} (mode 0600).`);
  for (const line of describeCost(d.cost)) ctx.out(line);
  return 0;
}

async function status(ctx: CliContext, limit: number): Promise<number> {
  const { token, endpoint } = doToken(ctx);
  const s = await reaperStatus({ digitaloceanToken: token, endpoints: endpoint ? { digitalocean: endpoint } : {}, limit });
  if (!s.namespace) {
    ctx.out(`No cloud reaper: there is no Functions namespace labelled "${REAPER_LABEL}". Deploy one with: thebacknd reaper deploy`);
    return 1;
  }
  ctx.out(`Namespace ${s.namespace} (${s.region ?? '?'}): ${s.actions.length} of 4 actions${s.actions.length ? ` (${s.actions.join(', ')})` : ''}.`);
  if (!s.trigger) ctx.out('Trigger: none, so destroy-old does not run on a schedule. Run `thebacknd reaper deploy` again.');
  else {
    const next = s.trigger.nextRunAt ? `${s.trigger.nextRunAt} (in ${duration(Date.parse(s.trigger.nextRunAt) - Date.now())})` : 'none';
    ctx.out(`Trigger ${s.trigger.name}: ${s.trigger.cron}${s.trigger.enabled ? '' : ' (paused)'}; last run ${s.trigger.lastRunAt ?? 'never'}; next run ${next}.`);
  }
  if (!s.activations.length) ctx.out('No activations yet.');
  else {
    ctx.out('Last activations:');
    for (const a of s.activations) {
      const what = a.ok ? (a.destroyed.length ? `destroyed ${a.destroyed.join(', ')}` : 'nothing to destroy') : `failed: ${a.error ?? 'unknown error'}`;
      ctx.out(`  ${a.at}  ${a.action.padEnd(12)}  ${what}`);
    }
  }
  return s.deployed ? 0 : 1;
}

async function remove(ctx: CliContext, yes: boolean, stateDir: string): Promise<number> {
  const { token, endpoint } = doToken(ctx);
  if (ctx.io.interactive && !yes && !(await ctx.confirm('Remove the cloud reaper? Machines are then reaped only while VS Code or the CLI runs.'))) {
    ctx.err('Nothing removed.');
    return 1;
  }
  const r = await removeReaper({ digitaloceanToken: token, endpoints: endpoint ? { digitalocean: endpoint } : {} });
  forgetReaperState(stateDir);
  if (!r.removed.length && !r.namespaceDeleted) ctx.out('No cloud reaper was deployed.');
  else {
    ctx.out(`Removed ${r.removed.join(', ') || 'nothing'}.`);
    ctx.out(r.namespaceDeleted ? 'Deleted the namespace Thebacknd had created.' : `Kept the namespace ${r.keptNamespace} (Thebacknd did not create it).`);
  }
  ctx.err(`Forgot ${reaperStatePath(stateDir)}.`);
  return 0;
}

function minutes(value: string | undefined, flag: string, fallback: number, b: { min: number; max: number }): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < b.min || n > b.max) throw new UsageError(`${flag} must be a whole number from ${b.min} to ${b.max}.`);
  return n;
}
