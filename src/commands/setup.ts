// Thebacknd: Check Setup. Runs the vscode-free checks (src/setup/checks.ts) for the default provider (or the one
// with a token), shows one row per step, and runs the fix of the row picked. The results also set the context keys
// `thebacknd.setup.<step>` that the walkthrough's steps complete on. Run Toplevel calls `requireSetup` first.
//
// Scripts (and tests): executeCommand('thebacknd.checkSetup', { quiet: true }) resolves with the CheckResult[].

import * as vscode from 'vscode';
import type { Ctx } from './context';
import { PROVIDERS } from '../core/tokens';
import type { CloudProvider, ProviderId } from '../providers/types';
import { checkSetup as runChecks, firstMissing, missingError, ORDER, type CheckResult, type SetupInput } from '../setup/checks';
import { machinesOf } from '../views/machines';
import { cacheCredentials } from './nix';

const ICON = { ok: '$(pass-filled)', missing: '$(error)', skipped: '$(circle-slash)' } as const;

/** The provider to check: the default one when it has a token, else the first with a token, else the default. */
async function chosenProvider(ctx: Ctx, wanted?: ProviderId): Promise<{ id: ProviderId; client: CloudProvider | undefined }> {
  const configured = await ctx.tokens.configured();
  const def = ctx.settings().defaultProvider;
  const id = wanted ?? (configured.includes(def) ? def : (configured[0] ?? def));
  if (!configured.includes(id)) return { id, client: undefined };
  return { id, client: await machinesOf(ctx).service.provider(id) };
}

export async function inputFor(ctx: Ctx, over: Partial<SetupInput> & { providerId?: ProviderId } = {}): Promise<SetupInput> {
  const { id, client } = over.providerId && over.provider ? { id: over.providerId, client: over.provider } : await chosenProvider(ctx, over.providerId);
  return {
    providerId: id,
    provider: client,
    settings: ctx.settings(),
    credentials: await cacheCredentials(ctx, false),
    secrets: await ctx.tokens.all(),
    ...over,
  };
}

/** Sets `thebacknd.setup.<id>` (true when ready or not needed) and `thebacknd.setup.ready`. */
async function publish(results: readonly CheckResult[]): Promise<void> {
  for (const r of results) await vscode.commands.executeCommand('setContext', `thebacknd.setup.${r.id}`, r.status !== 'missing');
  await vscode.commands.executeCommand('setContext', 'thebacknd.setup.ready', !firstMissing(results));
}

export async function checkSetup(ctx: Ctx, arg?: unknown): Promise<CheckResult[]> {
  const quiet = !!arg && typeof arg === 'object' && (arg as { quiet?: unknown }).quiet === true;
  const wanted = arg && typeof arg === 'object' ? (arg as { provider?: unknown }).provider : undefined;
  const providerId = (PROVIDERS as readonly unknown[]).includes(wanted) ? (wanted as ProviderId) : undefined;
  const results = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Thebacknd: checking the setup' }, async () =>
    runChecks(await inputFor(ctx, providerId ? { providerId } : {})),
  );
  await publish(results);
  for (const r of results) await ctx.log(r.status === 'missing' ? 'warn' : 'info', `Check Setup: ${r.status} ${r.title}: ${r.detail}`);
  if (!quiet) void show(results);
  return results;
}

async function show(results: CheckResult[]): Promise<void> {
  const missing = results.filter((r) => r.status === 'missing').length;
  const items = ORDER.map((id) => results.find((r) => r.id === id)!).map((r) => ({
    label: `${ICON[r.status]} ${r.title}`,
    description: r.status === 'missing' && r.fix ? r.fix.label : undefined,
    detail: r.detail,
    result: r,
  }));
  const picked = await vscode.window.showQuickPick(items, {
    title: missing ? `Thebacknd: ${missing} step${missing > 1 ? 's' : ''} missing — pick one to fix it` : 'Thebacknd: ready to run a machine',
    matchOnDetail: true,
  });
  if (picked?.result.status === 'missing') await applyFix(picked.result);
}

export async function applyFix(r: CheckResult): Promise<void> {
  const fix = r.fix;
  if (!fix) return;
  if (fix.command) await vscode.commands.executeCommand(fix.command);
  else if (fix.setting) await vscode.commands.executeCommand('workbench.action.openSettings', fix.setting);
  else if (fix.url) await vscode.env.openExternal(vscode.Uri.parse(fix.url));
}

/**
 * Run Toplevel's first step: the checks this run needs; the first missing one stops it with its fix (a UserError
 * whose button runs the fix), before anything is built or created.
 */
export async function requireSetup(ctx: Ctx, input: Partial<SetupInput> & { providerId: ProviderId; provider: CloudProvider }): Promise<void> {
  const results = await runChecks(await inputFor(ctx, input));
  await publish(results);
  const first = firstMissing(results);
  if (first) throw missingError(first);
}
