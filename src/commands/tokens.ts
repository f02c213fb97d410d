// Set Token…: asks for a provider token and keeps it in SecretStorage. The value is never logged or echoed.

import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import type { ProviderId } from '../providers/types';
import { checkToken, PROVIDER_LABEL, PROVIDERS, TOKEN_ENV } from '../base/tokens';

export async function setToken(ctx: Ctx, provider?: ProviderId): Promise<void> {
  const p = provider ?? (await pickProvider(ctx));
  if (!p) return;
  const label = PROVIDER_LABEL[p];
  const value = await vscode.window.showInputBox({
    title: `Thebacknd: ${label} API token`,
    prompt: `Paste a ${label} API token with read and write scope. It is kept in VS Code's secret storage.`,
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => (v ? checkToken(v) : undefined),
  });
  if (!value) return;
  await ctx.tokens.set(p, value);
  await ctx.log('info', `${label} token saved to secret storage.`);
  ctx.accountsChanged();
  void vscode.window.showInformationMessage(`Thebacknd: ${label} token saved.`);
}

export async function clearToken(ctx: Ctx, p: ProviderId): Promise<void> {
  await ctx.tokens.clear(p);
  await ctx.log('info', `${PROVIDER_LABEL[p]} token removed from secret storage.`);
  ctx.accountsChanged();
  const env = TOKEN_ENV[p];
  const still = process.env[env] ? ` ${env} is still set in the environment and will be used.` : '';
  void vscode.window.showInformationMessage(`Thebacknd: ${PROVIDER_LABEL[p]} token removed.${still}`);
}

async function pickProvider(ctx: Ctx): Promise<ProviderId | undefined> {
  const items = await Promise.all(
    PROVIDERS.map(async (p) => {
      // Not get(): saying where a token comes from must not run a token command (nor fail with it).
      const source = await ctx.tokens.source(p);
      return { label: PROVIDER_LABEL[p], description: source ? `set (${source})` : 'not set', p, clear: false };
    }),
  );
  const clears = [];
  for (const p of PROVIDERS) {
    if ((await ctx.tokens.source(p)) === 'secret storage') {
      clears.push({ label: `Remove ${PROVIDER_LABEL[p]} token`, description: '', p, clear: true });
    }
  }
  const pick = await vscode.window.showQuickPick([...items, ...clears], { title: 'Thebacknd: Set Token', placeHolder: 'Which provider?' });
  if (!pick) return undefined;
  if (pick.clear) {
    await clearToken(ctx, pick.p);
    return undefined;
  }
  return pick.p;
}
