// Thebacknd: Check Setup. Runs the vscode-free checks (src/setup/checks.ts) for the default provider (or the one
// with a token), shows one row per step, and runs the fix of the row picked. The results also set the context keys
// `thebacknd.setup.<step>` that the walkthrough's steps complete on. Run Toplevel calls `requireSetup` first.
//
// Scripts (and tests): executeCommand('thebacknd.checkSetup', { quiet: true }) resolves with the CheckResult[].

import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import { PROVIDERS } from '../base/tokens';
import type { Settings } from '../base/settings';
import type { CloudProvider, ProviderId } from '../providers/types';
import { checkSetup as runChecks, firstMissing, missingError, ORDER, type CheckResult, type SetupInput } from '../setup/checks';
import { cacheCredentials } from './nix';

const ICON = { ok: '$(pass-filled)', missing: '$(error)', skipped: '$(circle-slash)' } as const;

/** The provider to check: the default one when it has a token, else the first with a token, else the default. */
async function chosenProvider(ctx: Ctx, wanted?: ProviderId): Promise<{ id: ProviderId; client: CloudProvider | undefined }> {
  const configured = await ctx.tokens.configured();
  const def = ctx.settings().defaultProvider;
  const id = wanted ?? (configured.includes(def) ? def : (configured[0] ?? def));
  if (!configured.includes(id)) return { id, client: undefined };
  return { id, client: await ctx.machines.service.provider(id) };
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

/**
 * Sets `thebacknd.setup.<id>`: true when ready, false when missing; a skipped step keeps its key, except the signing
 * key without any cache (not needed at all). `thebacknd.setup.ready` only from a full check.
 */
async function publish(results: readonly CheckResult[], settings: Settings, full: boolean): Promise<void> {
  for (const r of results) {
    const value = r.status === 'skipped' ? (r.id === 'signingKey' && !(settings.cache.endpoint.trim() || settings.cache.publicUrl.trim()) ? true : undefined) : r.status === 'ok';
    if (value !== undefined) await vscode.commands.executeCommand('setContext', `thebacknd.setup.${r.id}`, value);
  }
  if (full) await vscode.commands.executeCommand('setContext', 'thebacknd.setup.ready', !firstMissing(results));
}

/** After a token or an image changed: the token and image steps again (cheap reads), for the walkthrough. */
export async function refreshSetupKeys(ctx: Ctx): Promise<void> {
  const input = await inputFor(ctx, { needs: { cache: false, push: false, nix: false } });
  const results = (await runChecks(input)).filter((r) => r.id === 'token' || r.id === 'image');
  await publish(results, input.settings, false);
}

export async function checkSetup(ctx: Ctx, arg?: unknown): Promise<CheckResult[]> {
  const quiet = !!arg && typeof arg === 'object' && (arg as { quiet?: unknown }).quiet === true;
  const wanted = arg && typeof arg === 'object' ? (arg as { provider?: unknown }).provider : undefined;
  const providerId = (PROVIDERS as readonly unknown[]).includes(wanted) ? (wanted as ProviderId) : undefined;
  const results = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Thebacknd: checking the setup' }, async () =>
    runChecks(await inputFor(ctx, providerId ? { providerId } : {})),
  );
  await publish(results, ctx.settings(), true);
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
  const full = await inputFor(ctx, input);
  const results = await runChecks(full);
  await publish(results, full.settings, false);
  const first = firstMissing(results);
  if (first) throw missingError(first);
}
