// Destroying subcommands. All of them act on tagged machines only: the providers refuse anything else.

import { messageOf } from '../base/errors';
import { reapTargets } from '../reaper/policy';
import { BOUNDS } from '../base/settings';
import { PROVIDER_LABEL } from '../base/tokens';
import type { CloudProvider, Machine } from '../providers/types';
import { UsageError } from './args';
import type { CommandSpec } from './command';
import type { CliContext } from './context';
import { findMachine, listAll } from './lookup';
import { wholeNumber } from './numbers';
import { cliStateDir } from './placement';
import { knownMachines } from './run-state';

const destroy: CommandSpec = {
  name: 'destroy',
  summary: 'destroy one machine by name or id',
  usage: 'destroy <name|id>',
  async run(ctx, { positionals }) {
    if (positionals.length !== 1) throw new UsageError('destroy takes one machine name or id: destroy thebacknd-1');
    const ref = positionals[0]!;
    const { provider, machine } = await findMachine(ctx, ref);
    await provider.destroy(machine.id);
    ctx.out(`Destroyed ${machine.name} (${PROVIDER_LABEL[provider.id]} ${machine.id}).`);
    return 0;
  },
};

const destroyAll: CommandSpec = {
  name: 'destroy-all',
  summary: 'destroy every thebacknd machine (asks first on a terminal)',
  usage: 'destroy-all [--yes]',
  options: { yes: { type: 'boolean', short: 'y' } },
  async run(ctx, { values }) {
    const { listed, failed } = await listAll(ctx);
    const targets = listed.flatMap(({ provider, result }) => result.machines.map((machine) => ({ provider, machine })));
    if (!targets.length) {
      ctx.out('No thebacknd machines to destroy.');
      return failed ? 1 : 0;
    }
    if (ctx.io.interactive && !values.yes) {
      const names = targets.map((t) => t.machine.name).join(', ');
      if (!(await ctx.confirm(`Destroy ${targets.length} machine${targets.length > 1 ? 's' : ''} (${names})?`))) {
        ctx.err('Nothing destroyed.');
        return 1;
      }
    }
    const ok = await destroyEach(
      ctx,
      targets.map((t) => ({ ...t, why: t.machine.name })),
    );
    return ok && !failed ? 0 : 1;
  },
};

const destroyOld: CommandSpec = {
  name: 'destroy-old',
  summary: 'destroy machines past their deadline, powered off, duplicated, or (without a deadline) older than --max-age',
  usage: 'destroy-old [--max-age MINUTES] [--dry-run]',
  options: { 'max-age': { type: 'string' }, 'dry-run': { type: 'boolean' } },
  async run(ctx, { values }) {
    const maxAgeMinutes = maxAge(values['max-age'] as string | undefined, ctx.settings.maxAgeMinutes);
    const { listed, failed } = await listAll(ctx);
    const known = await knownMachines(cliStateDir(ctx.io.env));
    const targets = listed.flatMap(({ provider, result }) => {
      return reapTargets({ machines: result.machines, serverTime: result.serverTime, maxAgeMinutes }, known).map((d) => ({ provider, machine: d.machine, why: d.why }));
    });
    if (!targets.length) {
      ctx.out('No old machines.');
      return failed ? 1 : 0;
    }
    if (values['dry-run']) {
      for (const t of targets) ctx.out(`Would destroy ${t.why}.`);
      return failed ? 1 : 0;
    }
    const ok = await destroyEach(ctx, targets);
    return ok && !failed ? 0 : 1;
  },
};

export const DESTROY_COMMANDS: CommandSpec[] = [destroy, destroyAll, destroyOld];

/** Destroys each target, reporting each outcome; one failure does not stop the others. */
async function destroyEach(ctx: CliContext, targets: { provider: CloudProvider; machine: Machine; why: string }[]): Promise<boolean> {
  let ok = true;
  for (const { provider, machine, why } of targets) {
    try {
      await provider.destroy(machine.id);
      ctx.out(`Destroyed ${why}.`);
    } catch (e) {
      ok = false;
      ctx.err(`thebacknd: ${machine.name} (${PROVIDER_LABEL[provider.id]} ${machine.id}): ${messageOf(e, ctx.secrets)}`);
    }
  }
  return ok;
}

function maxAge(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const { min, max } = BOUNDS.maxAgeMinutes;
  return wholeNumber(value, '--max-age (minutes)', min, max);
}
