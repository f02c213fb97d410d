// The pieces the command wizards share: the cancel that follows a progress notification, which flake of the open
// folders, and the machine-size question with the price per hour (Run Toplevel and Build on Ephemeral Workers).

import * as path from 'node:path';
import * as vscode from 'vscode';
import { UserError } from '../base/errors';
import type { Lifetime } from '../base/lifetime';
import { PROVIDER_LABEL } from '../base/tokens';
import { findFlakes } from '../nix';
import type { ProviderId, Size } from '../providers/types';
import { availableSizes, money, priceIn, sizeSummary } from '../workers/cost';

/**
 * Runs `fn` with an AbortSignal that follows the progress notification's Cancel button, and a script's `signal`.
 * With `lifetime`, deactivation cancels it too and waits for its cleanup (runs and builds destroy their machines).
 */
export async function withAbort<T>(
  token: vscode.CancellationToken,
  fn: (signal: AbortSignal) => Promise<T>,
  o: { lifetime?: Lifetime; signal?: AbortSignal | undefined } = {},
): Promise<T> {
  const ctl = new AbortController();
  if (token.isCancellationRequested) ctl.abort();
  const sub = token.onCancellationRequested(() => ctl.abort());
  const signal = o.signal ? AbortSignal.any([ctl.signal, o.signal]) : ctl.signal;
  try {
    return await (o.lifetime ? o.lifetime.run(signal, fn) : fn(signal));
  } finally {
    sub.dispose();
  }
}

/**
 * The folder of the flake to use: the only one among the open folders, or the one picked (undefined: dismissed).
 * None: null, or with `required` an error that says to open it.
 */
export async function pickFlake(o: { title: string; required: true }): Promise<string | undefined>;
export async function pickFlake(o: { title: string; required?: false }): Promise<string | null | undefined>;
export async function pickFlake(o: { title: string; required?: boolean }): Promise<string | null | undefined> {
  const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
  const flakes = findFlakes(folders);
  if (flakes.length === 0 && o.required) throw new UserError('No flake.nix at the root of the open folders: open the folder of your flake.');
  if (flakes.length <= 1) return flakes[0] ?? null;
  const pick = await vscode.window.showQuickPick(
    flakes.map((f) => ({ label: path.basename(f), description: f, f })),
    { title: o.title },
  );
  return pick?.f;
}

/** A quick pick whose items load asynchronously (regions, sizes), busy meanwhile. */
export async function asyncPick<T extends vscode.QuickPickItem>(title: string, load: () => Promise<T[]>): Promise<T | undefined> {
  const qp = vscode.window.createQuickPick<T>();
  qp.title = title;
  qp.matchOnDescription = true;
  qp.busy = true;
  qp.enabled = false;
  const result = new Promise<T | undefined>((resolve) => {
    qp.onDidAccept(() => resolve(qp.selectedItems[0]));
    qp.onDidHide(() => resolve(undefined));
  });
  qp.show();
  try {
    const items = await load();
    qp.items = items;
    const active = items.find((i) => i.picked);
    if (active) qp.activeItems = [active];
  } catch (err) {
    qp.dispose();
    throw err;
  }
  qp.busy = false;
  qp.enabled = true;
  const picked = await result;
  qp.dispose();
  return picked;
}

export interface SizeQuestion {
  title: string;
  provider: ProviderId;
  region: string;
  /** Offered first, marked with `why` ("last used", "the setting"). */
  prefer: string;
  why: string;
  /** The provider's sizes; those offered in `region` are shown. */
  sizes: () => Promise<Size[]>;
  /** The region came from the setting: an empty list points there. */
  regionFromSetting?: boolean;
}

/** The machine size in a region, each with its price per hour and what it has; the preferred one first. */
export async function pickSize(q: SizeQuestion): Promise<Size | undefined> {
  const pick = await asyncPick(q.title, async () => {
    const here = availableSizes(await q.sizes(), q.region);
    if (!here.length) {
      const setting = `thebacknd.${q.provider}.region`;
      if (q.regionFromSetting) throw new UserError(`${PROVIDER_LABEL[q.provider]} offers no size in ${q.region}: change ${setting}.`, { kind: 'openSettings', setting });
      throw new UserError(`${PROVIDER_LABEL[q.provider]} offers no size in ${q.region}.`);
    }
    return here
      .map((s) => ({
        label: `${s.slug}  ${money(priceIn(s, q.region), s.currency)}/h`,
        description: `${sizeSummary(s, q.region).replace(/ · [^·]*\/h$/, '')}${s.slug === q.prefer ? ` · ${q.why}` : ''}`,
        picked: s.slug === q.prefer,
        size: s,
      }))
      .sort((a, b) => Number(b.picked) - Number(a.picked));
  });
  return pick?.size;
}
