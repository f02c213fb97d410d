// Machine subcommands: list, create, extend, and the catalog (regions, sizes, images) that create draws from.

import { hetznerCreateProblem } from '../providers/hetzner-image-support';
import { readFileSync } from 'node:fs';
import { UserError } from '../base/errors';
import { BOUNDS } from '../base/settings';
import { PROVIDER_LABEL } from '../base/tokens';
import { UsageError } from './args';
import type { CommandSpec } from './command';
import { duration, MACHINE_HEADER, machineRows, price, table, toJson } from './format';
import type { CloudProvider } from '../providers/types';
import { findMachine, listAll } from './lookup';
import { wholeNumber } from './numbers';
import { buildUserData, serializeUserData } from '../agent/user-data';
import { newRunId } from '../providers/tags';
import { createMachineKeys, removeMachineKeys } from '../ssh/keys';
import { extendedDeadline } from '../machines/deadline';
import { baseImage } from './base-image';
import { cliStateDir } from './placement';

const json = { json: { type: 'boolean' as const } };

const list: CommandSpec = {
  name: 'list',
  summary: 'list thebacknd machines (all providers with a token, or --provider)',
  usage: 'list [--json]',
  options: json,
  async run(ctx, { values }) {
    const { listed, failed } = await listAll(ctx);
    const machines = listed.flatMap((l) => l.result.machines);
    if (values.json) {
      ctx.out(toJson(machines));
    } else if (!machines.length) {
      ctx.out('No thebacknd machines.');
    } else {
      const serverNow = new Map(listed.map((l) => [l.provider.id, l.result.serverTime.getTime()]));
      ctx.out(
        table(
          MACHINE_HEADER,
          machineRows(machines, (m) => serverNow.get(m.provider) ?? Date.now()),
        ),
      );
    }
    return failed ? 1 : 0;
  },
};

const create: CommandSpec = {
  name: 'create',
  summary: 'create a machine thebacknd-N (the smallest free N) from the base image, reachable over SSH (to run a toplevel: thebacknd run)',
  usage:
    'create [--region R] [--size S] [--image I] [--minutes M] [--user-data-file F] [--ssh-key ID]… [--ipv6-only] [--state-dir DIR] [--json]\n\n' +
    "  --image I   default: $THEBACKND_DO_IMAGE / $THEBACKND_HCLOUD_IMAGE, else the account's only Thebacknd image\n" +
    '  without --user-data-file, the machine boots bare with a pinned host key and a login key kept in --state-dir',
  options: {
    region: { type: 'string' },
    size: { type: 'string' },
    image: { type: 'string' },
    minutes: { type: 'string' },
    'user-data-file': { type: 'string' },
    'ssh-key': { type: 'string', multiple: true },
    'ipv6-only': { type: 'boolean' },
    'state-dir': { type: 'string' },
    ...json,
  },
  async run(ctx, { values }) {
    const provider = ctx.oneProvider();
    const defaults = ctx.settings[provider.id];
    const minutes = parseMinutes(values.minutes as string | undefined, ctx.settings.maxAgeMinutes);
    // A usage error before any API call: the base image cannot boot IPv6-only or Arm on Hetzner.
    if (provider.id === 'hetzner') {
      const problem = hetznerCreateProblem({ size: (values.size as string | undefined) ?? defaults.size, ipv4: values['ipv6-only'] ? false : undefined });
      if (problem) throw new UsageError(problem);
    }
    const image = await baseImage(provider, values.image as string | undefined, ctx.io.env, ctx.settings);
    const userDataFile = values['user-data-file'] as string | undefined;
    const runId = newRunId();
    // Without user-data of one's own: a bare run, as Run Toplevel's "nothing" (the agent rejects anything less).
    const storageDir = cliStateDir(ctx.io.env, values['state-dir'] as string | undefined);
    const keys = userDataFile ? undefined : await createMachineKeys(storageDir, runId);
    const userData = userDataFile
      ? readUserData(userDataFile)
      : serializeUserData(
          buildUserData({ hostKey: { private: keys!.hostPrivateKey, public: keys!.hostPublicKey }, authorizedKeys: [keys!.loginPublicKey], target: { kind: 'bare' } }),
        );
    try {
      // Time on the provider's clock: the deadline is compared with it by every reader.
      const { serverTime } = await provider.list();
      const m = await provider.create({
        region: (values.region as string | undefined) ?? defaults.region,
        size: (values.size as string | undefined) ?? defaults.size,
        image,
        userData,
        runId,
        deadline: new Date(serverTime.getTime() + minutes * 60_000),
        ...(values['ssh-key'] ? { sshKeys: values['ssh-key'] as string[] } : {}),
        ...(values['ipv6-only'] ? { ipv4: false } : {}),
      });
      if (values.json) ctx.out(toJson(m));
      else
        ctx.out(`Created ${m.name} (${PROVIDER_LABEL[m.provider]} ${m.id}, ${m.region}, ${m.size}); destroyed in ${minutes} min.${keys ? ` Login key: ${keys.loginKeyPath}` : ''}`);
      return 0;
    } catch (err) {
      if (keys) await removeMachineKeys(storageDir, runId);
      throw err;
    }
  },
};

const extend: CommandSpec = {
  name: 'extend',
  summary: "push a machine's deadline back by some minutes",
  usage: 'extend <name|id> <minutes>',
  async run(ctx, { positionals }) {
    const [ref, mins] = positionals;
    if (!ref || !mins || positionals.length > 2) throw new UsageError('extend takes a machine and a number of minutes: extend thebacknd-1 30');
    const minutes = parseMinutes(mins, 0);
    const { provider, machine, serverTime } = await findMachine(ctx, ref);
    const now = serverTime.getTime();
    // From the current deadline when it is still ahead, from now otherwise; never past what the reaper honours.
    const deadline = extendedDeadline(machine, now, minutes);
    await provider.setDeadline(machine.id, deadline);
    ctx.out(`${machine.name}: deadline ${deadline.toISOString()} (in ${duration(deadline.getTime() - now)}).`);
    return 0;
  },
};

/** A read-only listing of one provider's catalog: a table, or the model objects with --json. */
function catalog<T>(name: string, summary: string, fetch: (p: CloudProvider) => Promise<T[]>, header: string[], row: (item: T) => string[]): CommandSpec {
  return {
    name,
    summary,
    usage: `${name} [--json]`,
    options: json,
    async run(ctx, { values }) {
      const items = await fetch(ctx.oneProvider());
      ctx.out(values.json ? toJson(items) : table(header, items.map(row)));
      return 0;
    },
  };
}

const regions = catalog(
  'regions',
  'list the regions of a provider',
  (p) => p.regions(),
  ['REGION', 'NAME', 'AVAILABLE'],
  (r) => [r.slug, r.name, r.available ? 'yes' : 'no'],
);

const sizes = catalog(
  'sizes',
  'list machine sizes with their price per hour',
  (p) => p.sizes(),
  ['SIZE', 'CPUS', 'MEM GiB', 'DISK GiB', 'PER HOUR', 'REGIONS'],
  (s) => [s.slug, String(s.cpus), String(s.memoryGiB), String(s.diskGiB), price(s), s.regions.join(',')],
);

const images = catalog(
  'images',
  'list the images a machine can be created from',
  (p) => p.images(),
  ['IMAGE', 'KIND', 'STATUS', 'NAME'],
  (i) => [i.id, i.kind, i.status ?? '-', i.name],
);

export const MACHINE_COMMANDS: CommandSpec[] = [list, create, extend, regions, sizes, images];

function parseMinutes(value: string | undefined, fallback: number): number {
  return value === undefined ? fallback : wholeNumber(value, 'minutes', 1, BOUNDS.maxAgeMinutes.max);
}

function readUserData(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`Cannot read the user-data file ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
}
