// Listing across the chosen providers, and finding one machine by name or id. Shared by the subcommand families.

import { UserError, messageOf } from '../base/errors';
import { PROVIDER_LABEL } from '../base/tokens';
import type { CloudProvider, ListResult, Machine } from '../providers/types';
import type { CliContext } from './context';

export interface Listed {
  provider: CloudProvider;
  result: ListResult;
}

/** Lists every chosen provider. One that fails is reported on stderr and the others still count; `failed` says so. */
export async function listAll(ctx: CliContext): Promise<{ listed: Listed[]; failed: boolean }> {
  const providers = ctx.providers();
  const answers = await Promise.allSettled(providers.map((p) => p.list()));
  const listed: Listed[] = [];
  let failed = false;
  answers.forEach((a, i) => {
    const provider = providers[i]!;
    if (a.status === 'fulfilled') listed.push({ provider, result: a.value });
    else {
      failed = true;
      // With one provider the error is the command's error; with several, say which one failed and go on.
      if (providers.length === 1) throw a.reason;
      ctx.err(`thebacknd: ${PROVIDER_LABEL[provider.id]}: ${messageOf(a.reason, ctx.secrets)}`);
    }
  });
  return { listed, failed };
}

export interface Found {
  provider: CloudProvider;
  machine: Machine;
  serverTime: Date;
}

/** A tagged machine by name (`thebacknd-3`) or provider id; ambiguous or unknown references are errors. */
export async function findMachine(ctx: CliContext, ref: string): Promise<Found> {
  const { listed, failed } = await listAll(ctx);
  const hits: Found[] = [];
  for (const { provider, result } of listed) {
    for (const m of result.machines) if (m.name === ref || m.id === ref) hits.push({ provider, machine: m, serverTime: result.serverTime });
  }
  if (hits.length > 1) {
    throw new UserError(`"${ref}" matches machines on ${hits.map((h) => PROVIDER_LABEL[h.provider.id]).join(' and ')}: add --provider.`);
  }
  if (!hits.length) {
    const where = listed.map((l) => PROVIDER_LABEL[l.provider.id]).join(' or ');
    throw new UserError(`No thebacknd machine named or numbered "${ref}" on ${where || 'any provider'}${failed ? ' (a provider could not be listed)' : ''}.`);
  }
  return hits[0]!;
}
