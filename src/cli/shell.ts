// `thebacknd shell --workers N`: vps-worker's `shell-<name>` for the command line. Creates N workers, opens an
// interactive bash whose environment has what Open Worker Shell gives ($ip, $ssh, $store of the first worker,
// $builder for all of them; src/workers/shell-env.ts) plus a `remote` alias (nix with the builder flags), with the
// soft open-files limit raised to the hard one, and destroys the workers when the shell ends, however it ends: exit,
// Ctrl-D, or this process getting SIGHUP (the terminal closed), SIGTERM, SIGINT or SIGQUIT.

import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../base/errors';
import { PROVIDER_LABEL } from '../base/tokens';
import { buildersValue, systemsFor, workerBuilderLine } from '../workers/builders';
import { costReport, priceIn } from '../workers/cost';
import { checkRequest, planWorkers } from '../workers/orchestrate';
import { WorkerPool } from '../workers/pool';
import { builderFlags } from '../workers/remote-build';
import { workerShell } from '../workers/shell-env';
import { MAX_WORKERS, type ReadyWorker, type WorkersRequest } from '../workers/types';
import { baseImage } from './base-image';
import { str, UsageError } from './args';
import type { CommandSpec } from './command';
import type { CliContext } from './context';
import { decimalNumber, wholeNumber } from './numbers';
import { cliStateDir, PLACEMENT_OPTIONS } from './placement';
import { WORKER_OPTIONS } from './workers';

/** The shell's own rc file: the user's ~/.bashrc, then what vps-worker's init file adds. */
export function shellRc(workers: string): string {
  return [
    '# Written by `thebacknd shell`; removed when the shell ends.',
    '# shellcheck source=/dev/null',
    '[ -r ~/.bashrc ] && . ~/.bashrc',
    '# shellcheck disable=SC2154 # $builder is in the environment',
    `alias remote='nix ${builderFlags('"$builder"').join(' ')}'`,
    '# Big builds: Nix opens a lock file per derivation.',
    'ulimit -Sn "$(ulimit -Hn)" 2>/dev/null',
    `PS1="(${workers}) \${PS1:-\\$ }"`,
    '',
  ].join('\n');
}

const shell: CommandSpec = {
  name: 'shell',
  summary: 'create N workers and open a shell with them as Nix builders ($builder, $store, $ssh, remote); destroyed when it ends',
  usage: `shell --workers N [--size S] [--region R] [--image I] [--hours H] [--max-jobs N] [--state-dir DIR]

  --workers N    how many workers (1-${MAX_WORKERS})
  --size S       server type (default: the provider's default size)
  --image I      the Thebacknd base image (default: $THEBACKND_DO_IMAGE / $THEBACKND_HCLOUD_IMAGE, else the account's only one)
  --hours H      the workers' deadline, should this computer vanish (default 1)
  --max-jobs N   parallel builds per worker (default: its number of cores)
In the shell: $ip $ssh $store (first worker), $ips, $builder (all workers), and \`remote build .#pkg\`.`,
  options: {
    workers: WORKER_OPTIONS.workers,
    hours: WORKER_OPTIONS.hours,
    'max-jobs': WORKER_OPTIONS['max-jobs'],
    size: PLACEMENT_OPTIONS.size,
    region: PLACEMENT_OPTIONS.region,
    image: PLACEMENT_OPTIONS.image,
    'state-dir': PLACEMENT_OPTIONS['state-dir'],
  },
  // Cancelled, the shell and what runs in it end as on a closed terminal; the workers go once it has.
  cancel: {},
  async run(ctx, { values, positionals }) {
    if (positionals.length) throw new UsageError('shell takes no arguments.');
    const count = wholeNumber(str(values, 'workers') ?? '', '--workers', 1, MAX_WORKERS);
    const hoursText = str(values, 'hours');
    const hours = hoursText === undefined ? 1 : decimalNumber(hoursText, '--hours', 0.1, 24);
    const maxJobsText = str(values, 'max-jobs');
    const maxJobs = maxJobsText === undefined ? undefined : wholeNumber(maxJobsText, '--max-jobs', 1, 256);
    return runShell(ctx, {
      count,
      hours,
      maxJobs,
      size: str(values, 'size'),
      region: str(values, 'region'),
      image: str(values, 'image'),
      stateDir: str(values, 'state-dir'),
    });
  },
};

interface ShellOptions {
  count: number;
  hours: number;
  maxJobs: number | undefined;
  size: string | undefined;
  region: string | undefined;
  image: string | undefined;
  stateDir: string | undefined;
}

/** How long the shell has to end after the hang-up a cancel sends it, before it is killed. */
const SHELL_HANGUP_GRACE_MS = 3_000;

async function runShell(ctx: CliContext, o: ShellOptions): Promise<number> {
  const { io } = ctx;
  // Once the terminal is gone, writing to it fails (EIO): that must not stop the cleanup.
  for (const s of [io.stdout, io.stderr]) s.on('error', () => undefined);
  const say = (line: string) => io.stderr.write(`${line}\n`);

  const { signal } = ctx;
  let child: ChildProcess | undefined;
  let kill: NodeJS.Timeout | undefined;
  // bash ends on SIGHUP, but one that arrives between two commands is only acted on once readline has read the next
  // line (bash 5.2 records it and blocks reading): a shell nobody types into again would keep the workers for ever.
  // So the hang-up gets a grace period, then the shell is killed, and the cleanup below runs either way.
  const onCancel = (): void => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGHUP');
    kill = setTimeout(() => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL'), SHELL_HANGUP_GRACE_MS);
  };
  signal.addEventListener('abort', onCancel, { once: true });

  const provider = ctx.oneProvider();
  const defaults = ctx.settings[provider.id];
  let pool: WorkerPool | undefined;
  let rcDir: string | undefined;
  let code = 1;
  let pricing: { pricePerHour: number; currency: 'USD' | 'EUR' } | undefined;
  try {
    const placement = {
      provider: provider.id,
      region: o.region ?? defaults.region,
      size: o.size ?? defaults.size,
      image: await baseImage(provider, o.image, io.env, ctx.settings, signal),
    };
    const req: WorkersRequest = {
      installable: 'shell',
      placement,
      count: o.count,
      maxAgeMinutes: Math.round(o.hours * 60),
      outLink: '',
      keepOnFailure: false,
      ...(o.maxJobs === undefined ? {} : { maxJobs: o.maxJobs }),
    };
    checkRequest(req);
    const { size, estimate } = await planWorkers({ provider, storageDir: '' }, req, signal);
    pricing = { pricePerHour: priceIn(size, placement.region), currency: size.currency };
    say(`Estimate: ${estimate.text}`);
    pool = new WorkerPool({ provider, storageDir: cliStateDir(io.env, o.stateDir), nix: { env: io.env } }, (e) => {
      if (e.type === 'log') say(e.line);
    });
    say(`Creating ${o.count} × ${size.slug} on ${PROVIDER_LABEL[provider.id]} (${placement.region})…`);
    await pool.create(req, signal);
    const ready = await pool.waitReady(req, signal);
    rcDir = await fs.mkdtemp(path.join(os.tmpdir(), 'thebacknd-shell-'));
    const env = await shellEnv(ready, systemsFor(provider.id, size.slug), (w) => o.maxJobs ?? w.cores ?? size.cpus);
    const rc = path.join(rcDir, 'bashrc');
    const names = ready.map((w) => w.machine.name);
    await fs.writeFile(rc, shellRc(names.join(' ')), { mode: 0o600 });
    say(banner(ready));
    signal.throwIfAborted();
    child = spawn('bash', ['--init-file', rc, '-i'], { stdio: 'inherit', env: { ...io.env, ...env } });
    const started = child;
    code = await new Promise<number>((resolve, reject) => {
      started.once('error', (e) => reject(new UserError(`Cannot start bash (${(e as NodeJS.ErrnoException).code ?? e.message}).`)));
      started.once('exit', (c, s) => resolve(c ?? 128 + (s ? (os.constants.signals[s] ?? 1) : 1)));
    });
  } finally {
    if (pool) {
      say('Destroying the workers…');
      await pool.release('destroy');
      if (pricing) say(`Cost: ${costReport(provider.id, pricing.pricePerHour, pricing.currency, pool.lifetimes()).text}`);
    }
    if (rcDir) await fs.rm(rcDir, { recursive: true, force: true });
    signal.removeEventListener('abort', onCancel);
    clearTimeout(kill);
  }
  return code;
}

/** Open Worker Shell's environment for the first worker, with `$builder` naming every worker and `$ips` all IPs. */
async function shellEnv(ready: ReadyWorker[], systems: string[], jobs: (w: ReadyWorker) => number): Promise<Record<string, string>> {
  const first = ready[0]!;
  const { env } = await workerShell({
    name: first.machine.name,
    runId: first.runId,
    ip: first.ip,
    keys: first.keys,
    builderKeyPath: first.builderKeyPath,
    systems,
    maxJobs: jobs(first),
  });
  return { ...env, builder: buildersValue(ready.map((w) => workerBuilderLine(w, systems, jobs(w)))), ips: ready.map((w) => w.ip).join(' ') };
}

function banner(ready: ReadyWorker[]): string {
  const list = ready.map((w) => `${w.machine.name} (${w.ip})`).join(', ');
  return [
    `Workers ready: ${list}. This shell has:`,
    '  $ip $ssh $store   the first worker: $ssh uptime ; nix copy --to "$store" ./result',
    '  $ips $builder     every worker, as Nix builders',
    '  remote …          nix with the workers as the only builders: remote build .#pkg',
    'exit (or Ctrl-D) destroys the workers.',
  ].join('\n');
}

export const SHELL_COMMANDS: CommandSpec[] = [shell];
