// `thebacknd build --workers N …`: the build runs on N ephemeral cloud machines used as Nix remote builders, and
// they are destroyed however it ends. The log, the server-type table, the estimate and the bill go to stderr; the
// output paths alone to stdout, so `path=$(thebacknd build --workers 2 .#pkg)` works. `build` (build.ts) comes
// here when `--workers` is given.

import path from 'node:path';
import { UserError } from '../base/errors';
import { DEFAULTS } from '../base/settings';
import { PROVIDER_LABEL } from '../base/tokens';
import { findFlakes } from '../nix/flake';
import { isExplicitInstallable, resolveTarget } from '../nix/installable';
import { checkNix } from '../nix/version';
import { buildOnWorkers, checkRequest, planWorkers } from '../workers/orchestrate';
import { availableSizes, sizeRows, TABLE_HEADER } from '../workers/cost';
import { MAX_WORKERS, type WorkersEvent, type WorkersRequest } from '../workers/types';
import { str } from './command';
import { decimalNumber, wholeNumber } from './numbers';
import type { CliContext } from './context';
import { cliStateDir, IMAGE_ENV } from './placement';
import { table } from './format';
import { withCancel } from './push';

export const WORKER_HELP = `Build on workers (--workers N): creates N ephemeral cloud machines from the Thebacknd base image, builds on
them with Nix as remote builders (nothing builds on this computer: --max-jobs 0), leaves the result as an out-link
here, and destroys the machines whether the build succeeds, fails or is cancelled (Ctrl-C). The log, the estimate
and the cost go to stderr; the output paths to stdout.
  --workers N           how many workers (1-${MAX_WORKERS})
  -p, --provider P      digitalocean or hetzner (default: the only one with a token, else digitalocean)
  --size S              server type (default: ${DEFAULTS.hetzner.size} on Hetzner, ${DEFAULTS.digitalocean.size} on DigitalOcean)
  --region R            region (default: ${DEFAULTS.hetzner.region} / ${DEFAULTS.digitalocean.region})
  --image I             the Thebacknd base image (default: $${IMAGE_ENV.hetzner} / $${IMAGE_ENV.digitalocean})
  --hours H             time limit: the workers' deadline, and what the estimate assumes (default 1)
  --max-jobs N          parallel builds per worker (default: its number of cores)
  --out-link PATH       where the result link goes (default ./result)
  --keep-on-failure     keep the workers after a failed build, for debugging (still destroyed at their deadline)
  --estimate            print the server types and the estimate, and create nothing
  --state-dir DIR       where the workers' SSH keys live (default: $THEBACKND_STATE_DIR, else ~/.local/state/thebacknd)
  --token-file F        read the token of --provider from F (default: DIGITALOCEAN_ACCESS_TOKEN / HCLOUD_TOKEN)
  --endpoint URL        API base URL of --provider, e.g. the local emulator
Your user must be allowed to set builders: root, or listed in trusted-users of a multi-user Nix.
`;

export const WORKER_OPTIONS = {
  workers: { type: 'string' },
  hours: { type: 'string' },
  'max-jobs': { type: 'string' },
  'out-link': { type: 'string' },
  estimate: { type: 'boolean' },
} as const;

/** `build --workers N`: the options are parsed by main (build.ts's table); `arg` is the installable, if any. */
export async function buildOnWorkersCli(cli: CliContext, values: Readonly<Record<string, unknown>>, arg: string | undefined): Promise<number> {
  const io = cli.io;
  const count = wholeNumber(str(values, 'workers') ?? '', '--workers', 1, MAX_WORKERS);
  const hoursText = str(values, 'hours');
  const hours = hoursText === undefined ? 1 : decimalNumber(hoursText, '--hours', 0.1, 24);
  const maxJobsText = str(values, 'max-jobs');
  const maxJobs = maxJobsText === undefined ? undefined : wholeNumber(maxJobsText, '--max-jobs', 1, 256);

  return withCancel(io, async (signal) => {
    const provider = cli.oneProvider();
    const id = provider.id;
    const defaults = DEFAULTS[id];
    const dir = path.resolve(str(values, 'flake') ?? process.cwd());
    const placement = {
      provider: id,
      region: str(values, 'region') ?? defaults.region,
      size: str(values, 'size') ?? defaults.size,
      image: str(values, 'image') ?? io.env[IMAGE_ENV[id]] ?? '',
    };
    const ctx = { provider, storageDir: cliStateDir(io.env, str(values, 'state-dir')), nix: { env: io.env, cwd: dir } };
    const draft: WorkersRequest = {
      installable: arg ?? '(the flake)',
      placement,
      count,
      maxAgeMinutes: Math.round(hours * 60),
      outLink: path.resolve(str(values, 'out-link') ?? 'result'),
      keepOnFailure: values['keep-on-failure'] === true,
      ...(maxJobs === undefined ? {} : { maxJobs }),
    };

    if (values.estimate) {
      const sizes = await provider.sizes(signal);
      io.stderr.write(`${PROVIDER_LABEL[id]} server types in ${placement.region}:\n${table(TABLE_HEADER, sizeRows(sizes, placement.region))}\n`);
      const { estimate } = await planWorkers(ctx, draft, signal);
      io.stderr.write(`Estimate: ${estimate.text}\n`);
      return 0;
    }

    checkRequest(draft);
    const nix = { env: io.env, cwd: dir, signal, onLog: (l: string) => io.stderr.write(`${l}\n`) };
    await checkNix(nix);
    if (!(arg && isExplicitInstallable(arg)) && findFlakes([dir]).length === 0) {
      throw new UserError(`No flake.nix in ${dir}: use --flake DIR or name an installable.`);
    }
    const target = await resolveTarget(arg, dir, nix);
    const req: WorkersRequest = { ...draft, installable: target.installable };

    const sizes = await provider.sizes(signal);
    const chosen = availableSizes(sizes, placement.region).filter((s) => s.slug === placement.size);
    if (chosen.length) io.stderr.write(`${table(TABLE_HEADER, sizeRows(chosen, placement.region))}\n`);
    const result = await buildOnWorkers(ctx, req, signal, (e) => printEvent(io.stderr, e));
    io.stdout.write(`${result.outputs.join('\n')}\n`);
    const used = result.workers.map((w) => `${w.name}: ${w.builds} build${w.builds === 1 ? '' : 's'}`).join(', ');
    io.stderr.write(`Result: ${result.outLink} -> ${result.outputs[0]} (${used})\n`);
    return 0;
  });
}

function printEvent(out: NodeJS.WritableStream, e: WorkersEvent): void {
  if (e.type === 'log') out.write(`${e.line}\n`);
  else if (e.type === 'stage' && e.stage === 'cleanup') out.write(`Cleaning up: ${e.detail ?? ''}\n`);
}
