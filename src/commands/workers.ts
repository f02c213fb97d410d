// Build on Ephemeral Workers and Open Worker Shell: pickers, progress and the terminal. Every decision (creating,
// waiting, building, destroying, billing) is in the vscode-free src/workers.
//
// Scripts (and the integration tests) skip the questions and the confirmation with one argument:
//   vscode.commands.executeCommand('thebacknd.buildOnWorkers', { installable, placement, outLink, ... })
// placement: { provider, region?, size?, image? } (the settings fill what is missing); optional: count (default 2),
// maxAgeMinutes, keepOnFailure (default the settings'), cwd (the folder local nix runs in), maxJobs, pollMs,
// sshTimeoutMs, onEvent (every WorkersEvent as it happens) and signal (an AbortSignal that cancels like the
// notification's Cancel button). It resolves with a WorkersOutcome instead of showing the closing notification or
// the error.

import { scriptedConsent } from './run';
import path from 'node:path';
import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import { pickFlake, pickSize, withAbort } from './wizard';
import { isAbort, messageOf, UserError } from '../base/errors';
import { PROVIDER_LABEL } from '../base/tokens';
import { checkNix, flakeRef, listNixosConfigurations, toplevelInstallable } from '../nix';
import type { CloudProvider, Machine, ProviderId, Size } from '../providers/types';
import { keyOf } from '../machines/service';
import { loadMachineKeys } from '../ssh/keys';
import { byDeadline, machinePickRow } from '../views/present';
import {
  buildOnWorkers as runWorkers,
  checkRequest,
  estimate,
  listPackages,
  MAX_WORKERS,
  money,
  shellForMachine,
  sizeSummary,
  type WorkersEvent,
  type WorkersRequest,
  type WorkersResult,
  type WorkersStage,
} from '../workers';

const TIME_LIMITS = [30, 60, 120, 240, 480];

export interface WorkersArgs {
  installable: string;
  placement: { provider: ProviderId; region?: string; size?: string; image?: string };
  /** Absolute, or relative to cwd. */
  outLink: string;
  count?: number;
  maxAgeMinutes?: number;
  keepOnFailure?: boolean;
  cwd?: string;
  maxJobs?: number;
  pollMs?: number;
  sshTimeoutMs?: number;
  onEvent?: (e: WorkersEvent) => void;
  signal?: AbortSignal;
}

export type WorkersOutcome = { ok: true; result: WorkersResult } | { ok: false; cancelled: boolean; message: string; detail?: string };

function isWorkersArgs(a: unknown): a is WorkersArgs {
  return !!a && typeof a === 'object' && 'installable' in a && 'placement' in a && 'outLink' in a;
}

export async function buildOnWorkers(ctx: Ctx, arg?: unknown): Promise<WorkersResult | WorkersOutcome | undefined> {
  if (isWorkersArgs(arg)) {
    if (!(await scriptedConsent(ctx, `${arg.count ?? 1} build worker(s) on ${arg.placement.provider} for ${arg.installable}`))) return undefined;
    return scriptedBuild(ctx, arg);
  }
  const machines = ctx.machines;
  const flakeDir = await pickFlake({ title: 'Thebacknd: which flake?', required: true });
  if (!flakeDir) return undefined;
  const installable = await pickInstallable(flakeDir);
  if (!installable) return undefined;

  const providerId = await pickProvider(ctx);
  if (!providerId) return undefined;
  const settings = ctx.settings();
  const ps = settings[providerId];
  const placementBase = { provider: providerId, region: ps.region, image: ps.image };
  // Fail on a missing image now, not after every question.
  checkRequest({ installable, placement: { ...placementBase, size: ps.size }, count: 1, maxAgeMinutes: 60, outLink: 'result', keepOnFailure: false });
  const provider = await machines.service.provider(providerId);
  const size = await pickSize({
    title: `Thebacknd: Build on Ephemeral Workers (3/5): server type in ${ps.region} (price per hour)`,
    provider: providerId,
    region: ps.region,
    prefer: ps.size,
    why: 'the setting',
    sizes: () => provider.sizes(),
    regionFromSetting: true,
  });
  if (!size) return undefined;
  const count = await askCount();
  if (!count) return undefined;
  const minutes = await pickTimeLimit(providerId, size, ps.region, count, settings.maxAgeMinutes);
  if (!minutes) return undefined;

  const req: WorkersRequest = {
    installable,
    placement: { ...placementBase, size: size.slug },
    count,
    maxAgeMinutes: minutes,
    outLink: path.join(flakeDir, 'result'),
    keepOnFailure: settings.keepWorkersOnFailure,
  };
  const est = estimate(providerId, size, ps.region, count, minutes / 60);
  const go = await vscode.window.showInformationMessage(
    `Build on ${count} × ${size.slug} worker${count === 1 ? '' : 's'} (${PROVIDER_LABEL[providerId]}, ${ps.region})?`,
    {
      modal: true,
      detail:
        `${installable}\n\n${size.slug}: ${sizeSummary(size, ps.region)}\nEstimate: ${est.text}\n\n` +
        `The workers are destroyed when the build ends, however it ends${req.keepOnFailure ? ' (kept after a failure: thebacknd.workers.keepOnFailure)' : ''}, ` +
        `and at the latest at their deadline in ${minutes} minutes. The result link goes to ${req.outLink}.`,
    },
    'Build',
  );
  if (go !== 'Build') return undefined;

  ctx.output.info(`Build on workers: ${installable} on ${count} × ${size.slug} (${PROVIDER_LABEL[providerId]}, ${ps.region}).`);
  const result = await runWithProgress(ctx, provider, req, flakeDir);
  void vscode.window
    .showInformationMessage(`Thebacknd: built ${result.outputs[0]} on ${result.workers.length} workers; ${result.cost.text}`, 'Copy Path', 'Show Log')
    .then(async (a) => {
      if (a === 'Copy Path') await vscode.env.clipboard.writeText(result.outputs[0]!);
      if (a === 'Show Log') ctx.output.show(true);
    });
  return result;
}

/** The scripted form: the settings fill what the argument leaves out; no question, no confirmation. */
async function scriptedBuild(ctx: Ctx, a: WorkersArgs): Promise<WorkersOutcome> {
  try {
    return { ok: true, result: await scriptedRun(ctx, a) };
  } catch (err) {
    const cancelled = isAbort(err);
    const message = cancelled ? 'Cancelled; the workers were destroyed.' : messageOf(err, await ctx.tokens.all());
    const detail = err instanceof UserError ? err.detail : undefined;
    await ctx.log(cancelled ? 'info' : 'error', `Build on workers: ${message}${detail ? `\n${detail}` : ''}`);
    return { ok: false, cancelled, message, ...(detail ? { detail } : {}) };
  }
}

async function scriptedRun(ctx: Ctx, a: WorkersArgs): Promise<WorkersResult> {
  const p = a.placement.provider;
  if (p !== 'digitalocean' && p !== 'hetzner') throw new UserError(`Unknown provider ${JSON.stringify(p)}.`);
  const settings = ctx.settings();
  const ps = settings[p];
  const count = a.count ?? 2;
  const req: WorkersRequest = {
    installable: a.installable,
    placement: { provider: p, region: a.placement.region ?? ps.region, size: a.placement.size ?? ps.size, image: a.placement.image ?? ps.image },
    count,
    maxAgeMinutes: a.maxAgeMinutes ?? settings.maxAgeMinutes,
    outLink: a.outLink,
    keepOnFailure: a.keepOnFailure ?? settings.keepWorkersOnFailure,
    ...(a.maxJobs !== undefined ? { maxJobs: a.maxJobs } : {}),
    ...(a.pollMs !== undefined ? { pollMs: a.pollMs } : {}),
    ...(a.sshTimeoutMs !== undefined ? { sshTimeoutMs: a.sshTimeoutMs } : {}),
  };
  checkRequest(req);
  const provider = await ctx.machines.service.provider(p);
  ctx.output.info(`Build on workers: ${req.installable} on ${count} × ${req.placement.size} (${PROVIDER_LABEL[p]}, ${req.placement.region}).`);
  return runWithProgress(ctx, provider, req, a.cwd, a);
}

/** The build under a cancellable notification; a failure becomes one UserError that says what became of the workers. */
async function runWithProgress(
  ctx: Ctx,
  provider: CloudProvider,
  req: WorkersRequest,
  cwd: string | undefined,
  scripted?: Pick<WorkersArgs, 'onEvent' | 'signal'>,
): Promise<WorkersResult> {
  const machines = ctx.machines;
  const count = req.count;
  let costText = '';
  const outcome = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Thebacknd: build on workers', cancellable: true }, (progress, token) =>
    withAbort(
      token,
      async (signal) => {
        const report = throttled((message: string) => progress.report({ message }));
        const onEvent = (e: WorkersEvent): void => {
          if (e.type === 'log') {
            ctx.output.info(e.line);
            if (e.line.trim()) report(e.line.trim().slice(0, 120));
          } else if (e.type === 'stage') {
            report(stageText(e.stage, count), true);
            if (e.stage === 'create' || e.stage === 'cleanup') void machines.refresh.refreshNow();
          } else if (e.type === 'cost') {
            costText = e.report.text;
          }
          scripted?.onEvent?.(e);
        };
        try {
          return { result: await runWorkers({ provider, storageDir: ctx.storageDir, ...(cwd ? { nix: { cwd } } : {}) }, req, signal, onEvent) };
        } catch (err) {
          return { err };
        } finally {
          void machines.refresh.refreshNow();
        }
      },
      { lifetime: ctx.lifetime, signal: scripted?.signal },
    ),
  );

  if ('err' in outcome) {
    const err = outcome.err;
    if (isAbort(err)) {
      void vscode.window.showInformationMessage(`Thebacknd: build cancelled; the workers were destroyed. ${costText}`);
      throw err;
    }
    // The register's report shows this with a Show Log button; the bill belongs in the same sentence.
    const kept = req.keepOnFailure ? 'The workers were kept (thebacknd.workers.keepOnFailure).' : 'The workers were destroyed.';
    if (err instanceof UserError) throw new UserError(`${err.message} ${kept} ${costText}`.trim(), err.fix, err.detail);
    throw new UserError(`${messageOf(err)} ${kept} ${costText}`.trim());
  }
  const { result } = outcome;
  const used = result.workers.map((w) => `${w.name}: ${w.builds}`).join(', ');
  ctx.output.info(`Built ${result.outputs.join(' ')} (derivations per worker: ${used}). ${result.cost.text}`);
  return result;
}

/** A local terminal whose environment holds the worker's `$store`, `$builder` and `$ssh` (vps-worker's shell-<name>). */
export async function openWorkerShell(ctx: Ctx, node?: unknown): Promise<vscode.Terminal | undefined> {
  const machines = ctx.machines;
  const machine = fromNode(machines.service.machines(), node) ?? (await pickWorker(ctx));
  if (!machine) return undefined;
  let cpus: number | undefined;
  try {
    cpus = (await (await machines.service.provider(machine.provider)).sizes()).find((s) => s.slug === machine.size)?.cpus;
  } catch {
    cpus = undefined; // the builder line then allows one job; the shell still works
  }
  const shell = await shellForMachine(ctx.storageDir, machine, cpus);
  const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file')?.uri.fsPath;
  const terminal = vscode.window.createTerminal({
    name: `Worker ${machine.name}`,
    env: shell.env,
    message: shell.banner.replace(/\n/g, '\r\n'),
    iconPath: new vscode.ThemeIcon('server-process'),
    ...(folder ? { cwd: folder } : {}),
  });
  terminal.show();
  return terminal;
}

function fromNode(known: Machine[], node: unknown): Machine | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const ref = ('machine' in node ? (node as { machine?: unknown }).machine : node) as Partial<Machine> | undefined;
  if (!ref?.provider || !ref.id) return undefined;
  return known.find((m) => keyOf(m) === keyOf(ref as Machine));
}

/** Running machines whose keys are on this computer. */
async function pickWorker(ctx: Ctx): Promise<Machine | undefined> {
  const service = ctx.machines.service;
  const running = service.machines().filter((m) => m.status === 'running' && m.runId && (m.ipv4 ?? m.ipv6));
  const withKeys: Machine[] = [];
  for (const m of running) if (await loadMachineKeys(ctx.storageDir, m.runId!)) withKeys.push(m);
  if (!withKeys.length) {
    void vscode.window.showInformationMessage(
      'Thebacknd: no running machine created from this computer; a worker shell needs one (Build on Ephemeral Workers keeps them on failure with thebacknd.workers.keepOnFailure).',
    );
    return undefined;
  }
  const items = byDeadline(withKeys.map((machine) => ({ machine, nowMs: service.serverNow(machine.provider) }))).map((c) => ({ ...machinePickRow(c), machine: c.machine }));
  return (await vscode.window.showQuickPick(items, { title: 'Thebacknd: Open Worker Shell on which machine?', matchOnDescription: true }))?.machine;
}

async function pickInstallable(flakeDir: string): Promise<string | undefined> {
  const flake = flakeRef(flakeDir);
  const nix = { cwd: flakeDir };
  const [configs, packages] = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Thebacknd: reading the flake' }, async () => {
    await checkNix(nix);
    return Promise.all([listNixosConfigurations(flake, nix), listPackages(flake, 'x86_64-linux', nix).catch(() => [] as string[])]);
  });
  const other = '$(edit) Other installable…';
  const items = [
    ...packages.map((p) => ({ label: p, description: 'packages.x86_64-linux', installable: `${flake}#packages.x86_64-linux.${p}` })),
    ...configs.map((c) => ({ label: c, description: 'nixosConfigurations toplevel', installable: toplevelInstallable(flake, c) })),
    { label: other, description: 'e.g. .#packages.x86_64-linux.default', installable: '' },
  ];
  const pick = await vscode.window.showQuickPick(items, { title: 'Thebacknd: Build on Ephemeral Workers (1/5): what to build?' });
  if (!pick) return undefined;
  if (pick.label !== other) return pick.installable;
  const typed = await vscode.window.showInputBox({ title: 'Thebacknd: installable to build', value: '.#', ignoreFocusOut: true });
  if (!typed) return undefined;
  return typed.startsWith('.#') ? `${flake}${typed.slice(1)}` : typed;
}

async function pickProvider(ctx: Ctx): Promise<ProviderId | undefined> {
  const withToken = ctx.machines.service.snapshot().filter((p) => p.tokenSource);
  if (!withToken.length) {
    const p = ctx.settings().defaultProvider;
    throw new UserError(`No cloud token is set: workers need a ${PROVIDER_LABEL[p]} or another provider's token.`, { kind: 'setToken', provider: p });
  }
  if (withToken.length === 1) return withToken[0]!.id;
  const def = ctx.settings().defaultProvider;
  const items = [...withToken].sort((a, b) => (a.id === def ? -1 : b.id === def ? 1 : 0)).map((p) => ({ label: PROVIDER_LABEL[p.id], id: p.id }));
  return (await vscode.window.showQuickPick(items, { title: 'Thebacknd: Build on Ephemeral Workers (2/5): which cloud?' }))?.id;
}

async function askCount(): Promise<number | undefined> {
  const text = await vscode.window.showInputBox({
    title: 'Thebacknd: Build on Ephemeral Workers (4/5): how many workers?',
    value: '2',
    ignoreFocusOut: true,
    validateInput: (v) => (/^\d+$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= MAX_WORKERS ? undefined : `A whole number from 1 to ${MAX_WORKERS}.`),
  });
  return text ? Number(text.trim()) : undefined;
}

async function pickTimeLimit(provider: ProviderId, size: Size, region: string, count: number, preferred: number): Promise<number | undefined> {
  const options = [...new Set([preferred, ...TIME_LIMITS])].sort((a, b) => a - b);
  const items = options.map((m) => {
    const e = estimate(provider, size, region, count, m / 60);
    return {
      label: m < 60 ? `${m} min` : `${m / 60} h`,
      description: `at most ${money(e.total, e.currency)} for ${count} worker${count === 1 ? '' : 's'}`,
      picked: m === preferred,
      minutes: m,
    };
  });
  items.sort((a, b) => Number(b.picked) - Number(a.picked));
  const pick = await vscode.window.showQuickPick(items, {
    title: 'Thebacknd: Build on Ephemeral Workers (5/5): time limit (the workers are destroyed at the latest then)',
  });
  return pick?.minutes;
}

function stageText(stage: WorkersStage, count: number): string {
  switch (stage) {
    case 'estimate':
      return 'estimating the cost…';
    case 'create':
      return `creating ${count} worker${count === 1 ? '' : 's'}…`;
    case 'wait':
      return 'waiting for the workers to answer over SSH…';
    case 'build':
      return 'building…';
    case 'cleanup':
      return 'destroying the workers…';
    case 'done':
      return 'done';
  }
}

/** At most one progress message per 250 ms, except those marked urgent. */
function throttled(fn: (message: string) => void): (message: string, urgent?: boolean) => void {
  let last = 0;
  return (message, urgent = false) => {
    const now = Date.now();
    if (!urgent && now - last < 250) return;
    last = now;
    fn(message);
  };
}
