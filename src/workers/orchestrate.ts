// Build on Ephemeral Workers, start to end: estimate → create N workers → wait until each answers with its pinned
// key → `nix build` here with the workers as the only builders → destroy every worker, whether the build succeeded,
// failed or was cancelled (or keep them after a failure when asked; they still carry their deadline) → the bill.

import { isAbort, UserError } from '../base/errors';
import { PROVIDER_LABEL } from '../base/tokens';
import type { Size } from '../providers/types';
import { buildersValue, systemsFor, workerBuilderLine } from './builders';
import { availableSizes, costReport, estimate, priceIn, type Estimate } from './cost';
import { WorkerPool } from './pool';
import { remoteBuild } from './remote-build';
import { MAX_WORKERS, type WorkerContext, type WorkersEvent, type WorkersRequest, type WorkersResult } from './types';

/** Checks what a user typed before anything is created. */
export function checkRequest(req: WorkersRequest): void {
  if (!Number.isInteger(req.count) || req.count < 1 || req.count > MAX_WORKERS) {
    throw new UserError(`The number of workers must be a whole number from 1 to ${MAX_WORKERS} (got ${req.count}).`);
  }
  if (!req.installable.trim()) throw new UserError('Name what to build (a flake installable such as .#packages.x86_64-linux.default).');
  if (!req.placement.image) {
    const p = req.placement.provider;
    throw new UserError(
      `Workers boot the Thebacknd base image, and no ${PROVIDER_LABEL[p]} image is set: import it (Thebacknd: Import Base Image…), then set thebacknd.${p}.image (CLI: --image).`,
      { kind: 'openSettings', setting: `thebacknd.${p}.image` },
    );
  }
  if (!(req.maxAgeMinutes >= 5)) throw new UserError('Workers need a time limit of at least 5 minutes.');
}

/** The server type a request names, with the estimate for it; a UserError listing the types otherwise. */
export async function planWorkers(ctx: WorkerContext, req: WorkersRequest, signal?: AbortSignal): Promise<{ size: Size; estimate: Estimate }> {
  const sizes = await ctx.provider.sizes(signal);
  const { region, size: slug, provider } = req.placement;
  const size = sizes.find((s) => s.slug === slug);
  const here = availableSizes(sizes, region);
  if (!size || !here.includes(size)) {
    const names = here
      .slice(0, 15)
      .map((s) => s.slug)
      .join(', ');
    throw new UserError(`${PROVIDER_LABEL[provider]} has no server type "${slug}" in ${region}${names ? ` (there: ${names}…)` : ''}.`);
  }
  return { size, estimate: estimate(provider, size, region, req.count, req.maxAgeMinutes / 60) };
}

export async function buildOnWorkers(ctx: WorkerContext, req: WorkersRequest, signal: AbortSignal, emit: (e: WorkersEvent) => void): Promise<WorkersResult> {
  checkRequest(req);
  const stage = (s: Extract<WorkersEvent, { type: 'stage' }>['stage'], detail?: string): void => emit({ type: 'stage', stage: s, ...(detail ? { detail } : {}) });
  const log = (line: string): void => emit({ type: 'log', line });

  const { size, estimate: est } = await planWorkers(ctx, req, signal);
  stage('estimate', est.text);
  log(`Estimated cost: ${est.text}`);
  signal.throwIfAborted();

  const pool = new WorkerPool(ctx, emit);
  const { provider, region } = req.placement;
  const systems = req.systems ?? systemsFor(provider, size.slug);
  const maxJobs = (w: { cores?: number }) => req.maxJobs ?? w.cores ?? Math.max(1, size.cpus);
  let result: { paths: string[]; outLink: string } | undefined;
  let failure: unknown;
  try {
    stage('create', `${req.count} × ${size.slug} on ${PROVIDER_LABEL[provider]} (${region})`);
    await pool.create(req, signal);
    stage('wait');
    const ready = await pool.waitReady(req, signal);
    const builders = buildersValue(ready.map((w) => workerBuilderLine(w, systems, maxJobs(w))));
    log(`Builders: ${ready.map((w) => `${w.machine.name} ${maxJobs(w)} job${maxJobs(w) === 1 ? '' : 's'}`).join(', ')}.`);
    stage('build', req.installable);
    log(`Building ${req.installable} on ${ready.map((w) => w.machine.name).join(', ')} (nothing builds on this computer).`);
    result = await remoteBuild(req.installable, {
      ...ctx.nix,
      signal,
      builders,
      outLink: req.outLink,
      onLog: log,
      onBuildingOn: (drv, uri) => {
        const worker = pool.countBuild(ipOfUri(uri));
        if (worker) emit({ type: 'remote-build', drv, worker });
      },
      describeBuilder: (uri) => {
        const ip = ipOfUri(uri);
        const name = pool.nameOf(ip);
        return name ? `${name} (${ip})` : undefined;
      },
    });
  } catch (err) {
    failure = err;
  }

  const cancelled = failure !== undefined && (signal.aborted || isAbort(failure));
  const keep = failure !== undefined && !cancelled && req.keepOnFailure;
  stage('cleanup', keep ? 'keeping the workers (keep on failure)' : 'destroying the workers');
  await pool.release(keep ? 'keep' : 'destroy');
  const cost = costReport(provider, priceIn(size, region), size.currency, pool.lifetimes());
  emit({ type: 'cost', report: cost });
  log(`Cost: ${cost.text}`);
  if (failure !== undefined) throw failure;

  stage('done', result!.paths[0]);
  return { outputs: result!.paths, outLink: result!.outLink, workers: pool.workers, cost };
}

/** `ssh://root@10.0.0.2` → `10.0.0.2` (brackets of an IPv6 address removed). */
function ipOfUri(uri: string): string {
  return uri
    .replace(/^ssh(-ng)?:\/\/(?:[^@/]*@)?/, '')
    .replace(/[/?].*$/, '')
    .replace(/^\[(.*)\]$/, '$1');
}
