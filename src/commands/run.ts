// Run Toplevel: asks what to run and where (src/commands/runPickers.ts), then drives the vscode-free run
// (src/run/orchestrate.ts) under a cancellable progress notification. Stages become progress messages and the
// panel's timeline, log lines go to the Output channel and the panel, the machine shows in the tree as soon as it
// is created, and the end offers Open Terminal, Show Boot Log and Open Panel.
//
// Scripts (and the integration tests) skip the questions with one argument:
//   vscode.commands.executeCommand('thebacknd.runToplevel', { payload, placement, open? })
// payload: { kind: 'configuration', flakeRef, name } | { kind: 'installable', installable } | { kind: 'toplevel',
// storePath } | { kind: 'binary', storePath, binary } | { kind: 'bare' }; placement: { provider, region?, size?,
// image? } (the settings fill what is missing); optional: onEvent (every RunEvent as it happens), signal (an
// AbortSignal that cancels like the notification's Cancel button) and onFailure ('destroy' | 'keep'). It resolves
// with a RunOutcome instead of showing the offer at the end.

import { ALLOW, scriptedConsentQuestion } from '../run/consent';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import { withAbort } from './wizard';
import { isAbort, messageOf, UserError } from '../base/errors';
import { describeAgentEvent, parseAgentLine } from '../agent/log';
import { PROVIDER_LABEL } from '../base/tokens';
import type { ProviderId } from '../providers/types';
import type { Payload, Placement, RunEvent, RunRequest, RunResult } from '../run/types';
import { PanelModel, stageMessage, type TimelineEntry } from '../views/panelModel';
import { DEFAULT_BOOT_LOG_COMMAND } from '../ssh/boot-log';
import { cacheCredentials, cacheReadCredentials } from './nix';
import { reaperLinkOf } from './cloudReaper';
import { baseImage, checkPayload, pickPayload, pickPlacement } from './runPickers';
import { requireSetup } from './setup';
import { needsOf } from '../setup/checks';
import { WALKTHROUGH_KEYS } from '../setup/walkthrough';

export interface RunArgs {
  payload: unknown;
  placement: { provider: ProviderId; region?: string; size?: string; image?: string };
  onEvent?: (e: RunEvent) => void;
  signal?: AbortSignal;
  /** Overrides the setting thebacknd.run.keepOnFailure for this run. */
  onFailure?: 'destroy' | 'keep';
}

export type RunOutcome = { runId: string; timeline: TimelineEntry[] } & ({ ok: true; result: RunResult } | { ok: false; cancelled: boolean; message: string });

function isRunArgs(a: unknown): a is RunArgs {
  return !!a && typeof a === 'object' && 'payload' in a && 'placement' in a;
}

export async function runToplevel(ctx: Ctx, arg?: unknown): Promise<RunOutcome | undefined> {
  const machines = ctx.machines;
  const settings = ctx.settings();
  const { transferOf, isS3Url, createRunPorts, preflight } = await import('../run/ports');
  const { runToplevel: run, newRunId } = await import('../run/orchestrate');
  const transfer = transferOf(settings);
  const scripted = isRunArgs(arg) ? arg : undefined;

  const payload = scripted ? checkPayload(scripted.payload) : await pickPayload(ctx, transfer === 'ssh');
  if (!payload) return undefined;
  const where = scripted ? completePlacement(ctx, scripted.placement) : await pickPlacement(ctx);
  if (!where) return undefined;
  const provider = await machines.service.provider(where.provider);
  const placement: Placement = { ...where, image: scripted?.placement.image ?? (await baseImage(ctx, provider)) };
  if (scripted && !(await scriptedConsent(ctx, `${what(payload)} on ${PROVIDER_LABEL[placement.provider]} ${placement.region} ${placement.size}`))) return undefined;

  const cachePrivate = transfer === 'cache' && payload.kind !== 'bare' && (settings.cache.private || isS3Url(settings.cache.publicUrl));
  const needsPush = transfer === 'cache' && (payload.kind === 'configuration' || payload.kind === 'installable');
  // A script is never prompted: preflight below says what is missing instead.
  const credentials = needsPush ? await cacheCredentials(ctx, !scripted) : undefined;
  if (needsPush && !credentials && !scripted) return undefined;
  // Machines of a private cache get the read-only key, never the push key (preflight says when none is set).
  const readCredentials = cachePrivate ? await cacheReadCredentials(ctx) : undefined;
  // Every prerequisite this run needs, checked before anything is built or created (src/setup/checks.ts). A script
  // gets the first missing step as its outcome; a person gets it as an error with a button that fixes it.
  try {
    await requireSetup(ctx, {
      providerId: provider.id,
      provider,
      settings,
      region: placement.region,
      image: placement.image,
      credentials: credentials ?? readCredentials,
      needs: needsOf(payload.kind, transfer),
    });
  } catch (err) {
    if (!scripted || !(err instanceof UserError)) throw err;
    await ctx.log('error', `Run Toplevel: ${err.message}`);
    return { ok: false, runId: newRunId(), cancelled: false, message: err.message, timeline: [] };
  }
  const local = payload.kind === 'configuration' && fs.existsSync(payload.flakeRef) ? payload.flakeRef : undefined;
  const flakeDir = local ?? vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file')?.uri.fsPath;

  // A cloud reaper deployed from this VS Code: the machine gets its destroy-self code in user-data.
  const reaper = await reaperLinkOf(ctx);
  const ports = createRunPorts({
    provider,
    settings,
    ...(reaper ? { reaper } : {}),
    keysRoot: ctx.storageDir,
    ...(credentials ? { cacheCredentials: credentials } : {}),
    ...(readCredentials ? { cacheReadCredentials: readCredentials } : {}),
    ...(flakeDir ? { flakeDir } : {}),
    bootLogCommand: DEFAULT_BOOT_LOG_COMMAND,
  });
  const req: RunRequest = {
    payload,
    placement,
    maxAgeMinutes: settings.maxAgeMinutes,
    transfer,
    cachePrivate,
    onFailure: scripted?.onFailure === 'keep' || scripted?.onFailure === 'destroy' ? scripted.onFailure : settings.keepRunOnFailure ? 'keep' : 'destroy',
  };

  preflight({ settings, ...(credentials ? { cacheCredentials: credentials } : {}), ...(readCredentials ? { cacheReadCredentials: readCredentials } : {}) }, req);

  const runs = ctx.runs;
  const runId = newRunId();
  const model = new PanelModel(`new machine (${what(payload)})`, runId);
  if (payload.kind === 'toplevel' || payload.kind === 'binary') model.update({ storePath: payload.kind === 'binary' ? payload.binary : payload.storePath });
  runs.models.set(runId, model);
  runs.active.add(runId);
  await ctx.log(
    'info',
    `Run Toplevel ${runId}: ${what(payload)} on ${PROVIDER_LABEL[placement.provider]} ${placement.region} ${placement.size} (image ${placement.image}); ${transfer === 'cache' ? `binary cache${cachePrivate ? ' (private)' : ''}` : 'closure over SSH'}.`,
  );

  let outcome: RunOutcome;
  const shown: Shown = {};
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Thebacknd: ${what(payload)}`, cancellable: true },
      (progress, token) =>
        withAbort(
          token,
          (signal) =>
            run(
              ports,
              req,
              signal,
              (e) => {
                onEvent(ctx, model, e, (message) => progress.report({ message }), shown);
                scripted?.onEvent?.(e);
              },
              runId,
            ),
          { lifetime: ctx.lifetime, signal: scripted?.signal },
        ),
    );
    if (result.storePath && payload.kind !== 'binary') model.update({ storePath: result.storePath });
    model.finish('ready', readyText(result));
    outcome = { ok: true, runId, result, timeline: model.state.timeline };
    void vscode.commands.executeCommand('setContext', WALKTHROUGH_KEYS.firstMachine, true);
  } catch (err) {
    const cancelled = isAbort(err);
    const message = cancelled ? 'Cancelled; nothing of this run is left running.' : messageOf(err, await ctx.tokens.all());
    model.finish(cancelled ? 'cancelled' : 'failed', message);
    await ctx.log(cancelled ? 'info' : 'error', `Run ${runId}: ${message}${err instanceof UserError && err.detail ? ` (${err.detail})` : ''}`);
    outcome = { ok: false, runId, cancelled, message, timeline: model.state.timeline };
  } finally {
    runs.active.delete(runId);
    forgetOldRuns(runs.models, runs.active);
    void machines.refresh.refreshNow();
  }
  if (!scripted) void offer(ctx, outcome, model);
  return outcome;
}

/** Finished runs stay for their panels (a failed run's panel explains the failure), the latest few only. */
function forgetOldRuns(models: Map<string, PanelModel>, active: ReadonlySet<string>, keep = 20): void {
  const finished = [...models.keys()].filter((id) => !active.has(id));
  for (const id of finished.slice(0, Math.max(0, finished.length - keep))) models.delete(id);
}

/** The settings fill what a scripted placement leaves out. */
function completePlacement(ctx: Ctx, p: RunArgs['placement']): Omit<Placement, 'image'> {
  if (p.provider !== 'digitalocean' && p.provider !== 'hetzner') throw new UserError(`Unknown provider ${JSON.stringify(p.provider)}.`);
  const s = ctx.settings()[p.provider];
  return { provider: p.provider, region: p.region ?? s.region, size: p.size ?? s.size };
}

/** The stage the notification last showed. */
interface Shown {
  stage?: Extract<RunEvent, { type: 'stage' }>;
}

function onEvent(ctx: Ctx, model: PanelModel, e: RunEvent, report: (message: string) => void, shown: Shown): void {
  model.apply(e);
  switch (e.type) {
    case 'stage':
      shown.stage = e;
      report(stageMessage(e));
      void ctx.log('info', `[${e.stage}] ${stageMessage(e)}`);
      return;
    case 'log': {
      ctx.output.info(e.line);
      const ev = parseAgentLine(e.line);
      if (ev) report(describeAgentEvent(ev));
      return;
    }
    case 'progress':
      // The push goes on while the machine is created and starts: its news must not hide what the run waits for.
      report(shown.stage && shown.stage.stage !== 'sign' && shown.stage.stage !== 'push' ? `${stageMessage(shown.stage)} · ${e.message}` : e.message);
      return;
    case 'machine':
      // The tree shows it at once, not at the next periodic refresh.
      void ctx.machines.refresh.refreshNow();
      return;
  }
}

function what(p: Payload): string {
  switch (p.kind) {
    case 'configuration':
      return `run ${p.name}`;
    case 'installable':
      return `run ${p.installable}`;
    case 'toplevel':
      return `run ${p.storePath.slice(44) || p.storePath}`;
    case 'binary':
      return `run ${p.binary.split('/').pop() ?? p.binary}`;
    case 'bare':
      return 'run the base image';
  }
}

function readyText(r: RunResult): string {
  if (r.outcome.poweredOff) return `${r.machine.name} ran the program and powered off; the reaper destroys it.`;
  return r.storePath ? `${r.machine.name} switched to ${r.storePath}.` : `${r.machine.name} runs the base image.`;
}

/** The end of an interactive run: what the user can do next. */
async function offer(ctx: Ctx, o: RunOutcome, model: PanelModel): Promise<void> {
  const panelFor = () => vscode.commands.executeCommand('thebacknd.machine.openPanel', model.state.machine);
  if (!o.ok) {
    const actions = model.state.machine && !o.cancelled ? ['Open Panel', 'Show Log'] : ['Show Log'];
    const show = o.cancelled ? vscode.window.showInformationMessage : vscode.window.showErrorMessage;
    const a = await show(`Thebacknd: ${o.message}`, ...actions);
    if (a === 'Open Panel') await panelFor();
    if (a === 'Show Log') ctx.output.show(true);
    return;
  }
  const m = o.result.machine;
  const actions = o.result.outcome.poweredOff ? ['Open Panel'] : ['Open Terminal', 'Show Boot Log', 'Open Panel'];
  const a = await vscode.window.showInformationMessage(`Thebacknd: ${readyText(o.result)}`, ...actions);
  if (a === 'Open Terminal') await vscode.commands.executeCommand('thebacknd.machine.openTerminal', m);
  if (a === 'Show Boot Log') await vscode.commands.executeCommand('thebacknd.machine.showBootLog', m);
  if (a === 'Open Panel') await panelFor();
}

/** A call with arguments (another extension) creates paid machines: the user says yes first, except in our tests. */
export async function scriptedConsent(ctx: Ctx, what: string): Promise<boolean> {
  const mode = ctx.extension.extensionMode === vscode.ExtensionMode.Test ? 'test' : ctx.extension.extensionMode === vscode.ExtensionMode.Development ? 'development' : 'production';
  const question = scriptedConsentQuestion(mode, what);
  if (!question) return true;
  const answer = await vscode.window.showWarningMessage(question, { modal: true }, ALLOW);
  if (answer !== ALLOW) void ctx.log('warn', `A scripted call to create machines (${what}) was declined.`);
  return answer === ALLOW;
}
