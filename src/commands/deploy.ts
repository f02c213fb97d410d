// Deploy to Machine… (machine context menu, panel button, palette) and Toggle Deploy on Save. Drives the vscode-free
// deploy (src/deploy) under a cancellable progress notification: stages and the machine's deploy log go to the
// Output channel and the machine's panel, the result to the deploy history that the tree and the panel show.
//
// Scripts (and the integration tests) skip the questions:
//   vscode.commands.executeCommand('thebacknd.machine.deploy', machine, { payload, confirmTimeoutSeconds?, signal?,
//   onEvent?, deployCommand? }) resolves with the DeployResult (or { error } / { cancelled: true }).

import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import { keyOf } from '../machines/service';
import { isAbort, messageOf, UserError } from '../base/errors';
import type { Machine } from '../providers/types';
import {
  appendDeployHistory,
  bytes,
  currentToplevel,
  DeployOnSave,
  readDeployHistory,
  recordOf,
  type DeployEvent,
  type DeployPayload,
  type DeployRecord,
  type DeployResult,
} from '../deploy';
import { findFlakes, flakeRef, listNixosConfigurations, parseStorePath } from '../nix';
import { loadMachineKeys } from '../ssh/keys';
import { PanelModel } from '../views/panelModel';
import type { DeployState } from '../views/deploys';
import { byDeadline, machinePickRow } from '../views/present';
import { cacheCredentials } from './nix';
import { withAbort } from './wizard';

export interface DeployArgs {
  payload: DeployPayload;
  confirmTimeoutSeconds?: number;
  signal?: AbortSignal;
  onEvent?: (e: DeployEvent) => void;
  /** The machine-side command (tests: the script of this repository). */
  deployCommand?: string;
}

export type DeployCommandResult = DeployResult | { cancelled: true } | { error: string };

/** The app's deploy state, with the tree decorated from the first deploy command on. */
function deploysOf(ctx: Ctx): DeployState {
  const ui = ctx.deploys;
  if (ui.decorating) return ui;
  ui.decorating = true;
  const loading = new Set<string>();
  ctx.machines.tree.setDecorator((m) => {
    if (!m.runId) return undefined;
    const h = ui.history.get(m.runId);
    if (!h && !loading.has(m.runId)) {
      loading.add(m.runId);
      void readDeployHistory(ctx.storageDir, m.runId).then((r) => {
        if (r.length) ui.history.set(m.runId!, r);
        ctx.machines.tree.redecorate();
      });
    }
    return h?.length ? decoration(h) : undefined;
  });
  ctx.own(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('thebacknd.deploy.onSave')) syncOnSave(ctx, ui);
    }),
  );
  return ui;
}

/** The row's suffix and the tooltip's table: the toplevel it runs after its deploys, and the last few deploys. */
function decoration(h: readonly DeployRecord[]): { description: string; tooltip: string } {
  const last = h[h.length - 1]!;
  const time = (iso: string) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
  const rows = h
    .slice(-5)
    .reverse()
    .map((r) => `| ${time(r.at)} | \`${r.storePath.slice(44) || r.storePath}\` | ${r.outcome}${r.reason ? ` (${r.reason.replace(/\|/g, '/')})` : ''} |`);
  const now = currentToplevel(h);
  return {
    description: `${last.outcome === 'rolled-back' ? 'rolled back' : last.outcome === 'confirmed' || last.outcome === 'switched' ? 'deployed' : `deploy ${last.outcome}`} ${time(last.at)}`,
    tooltip: `**Deploys** (from this computer)${now ? `\n\nRuns \`${now}\`` : ''}\n\n| time | toplevel | result |\n|---|---|---|\n${rows.join('\n')}`,
  };
}

function machineOf(ctx: Ctx, node: unknown): Machine | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const ref = ('machine' in node ? (node as { machine: unknown }).machine : node) as Partial<Machine> | undefined;
  if (!ref?.provider || !ref.id) return undefined;
  return ctx.machines.service.machines().find((m) => keyOf(m) === keyOf(ref as Machine)) ?? (ref.name ? (ref as Machine) : undefined);
}

async function pickMachine(ctx: Ctx): Promise<Machine | undefined> {
  const service = ctx.machines.service;
  const mine: Machine[] = [];
  for (const m of service.machines()) if (m.runId && m.status === 'running' && (await loadMachineKeys(ctx.storageDir, m.runId))) mine.push(m);
  if (!mine.length) {
    void vscode.window.showInformationMessage('Thebacknd: no running machine created from this computer to deploy to. Run Toplevel… creates one.');
    return undefined;
  }
  const items = byDeadline(mine.map((machine) => ({ machine, nowMs: service.serverNow(machine.provider) }))).map((c) => ({ ...machinePickRow(c), machine: c.machine }));
  return (await vscode.window.showQuickPick(items, { title: 'Thebacknd: Deploy to which machine?', matchOnDescription: true }))?.machine;
}

/** A configuration of the open flake, or a toplevel store path. */
async function pickPayload(machine: Machine): Promise<{ payload: DeployPayload; flakeDir?: string } | undefined> {
  const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
  const flakes = findFlakes(folders);
  type Item = vscode.QuickPickItem & { value?: { payload: DeployPayload; flakeDir?: string } };
  const items: Item[] = [];
  for (const dir of flakes) {
    const names = await listNixosConfigurations(flakeRef(dir), { cwd: dir }).catch(() => [] as string[]);
    for (const name of names)
      items.push({
        label: `$(symbol-class) ${name}`,
        description: path.basename(dir),
        value: { payload: { kind: 'configuration', flakeRef: flakeRef(dir), name }, flakeDir: dir },
      });
  }
  items.push({ label: '$(package) A toplevel store path…', description: 'built already' });
  const picked = await vscode.window.showQuickPick(items, { title: `Thebacknd: Deploy to ${machine.name} — which configuration?` });
  if (!picked) return undefined;
  if (picked.value) return picked.value;
  const input = await vscode.window.showInputBox({
    title: `Thebacknd: Deploy to ${machine.name}`,
    prompt: 'A NixOS toplevel store path',
    placeHolder: '/nix/store/…-nixos-system-…',
    validateInput: (v) => {
      const r = parseStorePath(v.trim());
      return r.ok ? (r.value.kind === 'toplevel' ? undefined : 'A toplevel, not a file inside one.') : r.reason;
    },
  });
  return input ? { payload: { kind: 'toplevel', storePath: input.trim() } } : undefined;
}

export async function deployToMachine(ctx: Ctx, node?: unknown, arg?: unknown): Promise<DeployCommandResult | undefined> {
  const ui = deploysOf(ctx);
  const scripted = arg && typeof arg === 'object' && 'payload' in arg ? (arg as DeployArgs) : undefined;
  const machine = machineOf(ctx, node) ?? (node ? undefined : await pickMachine(ctx));
  if (!machine) return undefined;
  if (machine.status !== 'running') throw new UserError(`${machine.name} is ${machine.status}, not running: nothing to deploy to.`);
  const chosen = scripted
    ? { payload: scripted.payload, ...(scripted.payload.kind === 'configuration' ? { flakeDir: scripted.payload.flakeRef } : {}) }
    : await pickPayload(machine);
  if (!chosen) return undefined;
  ui.last = { machine, ...chosen, ...(scripted?.deployCommand ? { deployCommand: scripted.deployCommand } : {}) };
  syncOnSave(ctx, ui);
  return runDeploy(ctx, ui, machine, chosen.payload, chosen.flakeDir, scripted);
}

async function runDeploy(
  ctx: Ctx,
  ui: DeployState,
  machine: Machine,
  payload: DeployPayload,
  flakeDir: string | undefined,
  scripted?: Partial<DeployArgs>,
): Promise<DeployCommandResult> {
  const settings = ctx.settings();
  const { transferOf } = await import('../run/ports');
  const { deployToMachine: deploy } = await import('../deploy/deploy');
  const transfer = transferOf(settings);
  const needsPush = transfer === 'cache' && payload.kind !== 'toplevel';
  const credentials = needsPush ? await cacheCredentials(ctx, !scripted) : undefined;
  if (needsPush && !credentials) throw new UserError('No binary cache credentials: run "Thebacknd: Set Cache Credentials…".');
  const runs = ctx.runs;
  const models = new Set<PanelModel>();
  const panelModel = runs.panels.get(machine)?.model ?? (machine.runId ? runs.models.get(machine.runId) : undefined);
  if (panelModel) models.add(panelModel);
  const name = payload.kind === 'configuration' ? payload.name : payload.kind === 'installable' ? payload.installable : payload.storePath.slice(44);
  await ctx.log('info', `Deploy ${name} to ${machine.name} (${transfer === 'cache' ? 'binary cache' : 'over SSH'}).`);
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Thebacknd: deploy ${name} to ${machine.name}`, cancellable: true },
      (progress, token) =>
        withAbort(
          token,
          (signal) =>
            deploy(
              {
                settings,
                keysRoot: ctx.storageDir,
                ...(credentials ? { cacheCredentials: credentials } : {}),
                ...(flakeDir ? { flakeDir } : {}),
                ...(scripted?.deployCommand ? { deployCommand: scripted.deployCommand } : {}),
              },
              { machine, payload, transfer, confirmTimeoutSeconds: scripted?.confirmTimeoutSeconds ?? settings.deploy.confirmTimeoutSeconds },
              signal,
              (e) => {
                for (const m of models) m.applyDeploy(e);
                if (e.type === 'log') ctx.output.info(e.line);
                else if (e.type === 'stage') {
                  progress.report({ message: `${e.stage}${e.detail ? ` ${e.detail}` : ''}` });
                  void ctx.log('info', `[deploy:${e.stage}] ${e.detail ?? ''}`);
                } else progress.report({ message: e.message });
                scripted?.onEvent?.(e);
              },
            ),
          { signal: scripted?.signal },
        ),
    );
    await remember(ctx, ui, machine, recordOf(result), models, result.outcome === 'confirmed' || result.outcome === 'switched' ? result.storePath : undefined);
    const sent = `sent ${bytes(result.uploadedBytes)}, the machine fetched ${bytes(result.fetchedBytes)}`;
    if (!scripted) {
      if (result.outcome === 'rolled-back') void vscode.window.showWarningMessage(`Thebacknd: ${machine.name} rolled back to its previous generation: ${result.reason}`);
      else if (result.outcome === 'failed') void vscode.window.showErrorMessage(`Thebacknd: the deploy to ${machine.name} failed: ${result.reason}`);
      else void vscode.window.showInformationMessage(`Thebacknd: ${machine.name} runs ${result.storePath} (${sent}).`);
    }
    return result;
  } catch (err) {
    const cancelled = isAbort(err);
    const message = cancelled ? 'Cancelled; the machine switches back to its previous generation.' : messageOf(err, await ctx.tokens.all());
    for (const m of models) m.update({ message });
    await ctx.log(cancelled ? 'info' : 'error', `Deploy to ${machine.name}: ${message}`);
    if (!scripted && !cancelled) throw err;
    return cancelled ? { cancelled: true } : { error: message };
  }
}

async function remember(ctx: Ctx, ui: DeployState, machine: Machine, record: DeployRecord, models: Set<PanelModel>, storePath: string | undefined): Promise<void> {
  if (!machine.runId) return;
  await appendDeployHistory(ctx.storageDir, machine.runId, record);
  const history = await readDeployHistory(ctx.storageDir, machine.runId);
  ui.history.set(machine.runId, history);
  for (const m of models) m.update({ deploys: history, ...(storePath ? { storePath } : {}), message: `Deploy ${record.outcome}${record.reason ? `: ${record.reason}` : ''}` });
  ctx.machines.tree.redecorate();
}

/** Watches the last deploy's flake while the setting is on; each change feeds the debounced scheduler. */
function syncOnSave(ctx: Ctx, ui: DeployState): void {
  const on = ctx.settings().deploy.onSave;
  const last = ui.last;
  const key = last ? `${keyOf(last.machine)} ${JSON.stringify(last.payload)}` : '';
  if (ui.onSave && (!on || ui.onSave.key !== key)) {
    void ui.onSave.scheduler.dispose();
    for (const w of ui.onSave.watchers) w.dispose();
    ui.onSave = undefined;
  }
  if (last) ctx.runs.panels.get(last.machine)?.model.update({ deployOnSave: on });
  if (!on || !last || ui.onSave || !last.flakeDir) return;
  const scheduler = new DeployOnSave(
    async (signal) => {
      const fresh = ctx.machines.service.machines().find((m) => keyOf(m) === keyOf(last.machine));
      if (!fresh || fresh.status !== 'running') return;
      await runDeploy(ctx, ui, fresh, last.payload, last.flakeDir, { signal, ...(last.deployCommand ? { deployCommand: last.deployCommand } : {}) });
    },
    { debounceMs: 1500, onError: (err) => void ctx.log('error', `Deploy on save: ${messageOf(err)}`) },
  );
  const watchers: vscode.Disposable[] = [];
  // Saves in the editor (wherever the flake is), and changes made on disk by other tools (inside the workspace).
  const inFlake = (uri: vscode.Uri): boolean => {
    const rel = path.relative(last.flakeDir!, uri.fsPath);
    return uri.scheme === 'file' && !rel.startsWith('..') && !path.isAbsolute(rel) && (rel.endsWith('.nix') || rel === 'flake.lock');
  };
  watchers.push(vscode.workspace.onDidSaveTextDocument((doc) => inFlake(doc.uri) && scheduler.changed()));
  for (const glob of ['**/*.nix', 'flake.lock']) {
    const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(last.flakeDir), glob));
    watchers.push(
      w,
      w.onDidChange(() => scheduler.changed()),
      w.onDidCreate(() => scheduler.changed()),
      w.onDidDelete(() => scheduler.changed()),
    );
  }
  ui.onSave = { scheduler, watchers, key };
  void ctx.log('info', `Deploy on save: watching ${last.flakeDir} for ${last.machine.name}.`);
}

/** Flips thebacknd.deploy.onSave; from a panel, that machine becomes the target (asking what to deploy if needed). */
export async function toggleDeployOnSave(ctx: Ctx, node?: unknown): Promise<void> {
  const ui = deploysOf(ctx);
  const machine = machineOf(ctx, node);
  const on = !ctx.settings().deploy.onSave;
  if (on && machine && (!ui.last || keyOf(ui.last.machine) !== keyOf(machine))) {
    const chosen = await pickPayload(machine);
    if (!chosen) return;
    ui.last = { machine, ...chosen };
  }
  if (on && !ui.last) {
    void vscode.window.showInformationMessage('Thebacknd: deploy on save redeploys the last Deploy to Machine… of this window: deploy once first.');
  }
  const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await vscode.workspace.getConfiguration('thebacknd').update('deploy.onSave', on, target);
  syncOnSave(ctx, ui);
  void vscode.window.setStatusBarMessage(`Thebacknd: deploy on save ${on ? `on${ui.last ? ` (${ui.last.machine.name})` : ''}` : 'off'}`, 4000);
}
