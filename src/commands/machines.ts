// The machine commands. Each is `(ctx, node?, nodes?)`, so the context menu (one node, or the multi-selection in
// `nodes`), the palette (nothing: a quick pick asks) and other code (a machine) share one function.

import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import type { Machine } from '../providers/types';
import { keyOf } from '../machines/service';
import { PROVIDER_LABEL } from '../base/tokens';
import { UserError, messageOf } from '../base/errors';
import { reasonText } from '../reaper/reaper';
import type { Machines } from '../views/machines';
import { byDeadline, formatDuration, ipOf, machinePickRow, msLeft, type Clocked } from '../views/present';

/** A tree node, or anything carrying a machine's provider and id (a Machine itself). */
type Target = { kind?: string; machine?: Pick<Machine, 'provider' | 'id'> } | Pick<Machine, 'provider' | 'id'>;

/** The machines the arguments name, as currently known (fresh state, not the node's copy). */
function targets(m: Machines, node?: unknown, nodes?: unknown): Machine[] {
  const given = (Array.isArray(nodes) && nodes.length ? nodes : node ? [node] : []) as Target[];
  const known = new Map(m.service.machines().map((x) => [keyOf(x), x]));
  const out = new Map<string, Machine>();
  for (const t of given) {
    const ref = 'machine' in t && t.machine ? t.machine : 'provider' in t ? t : undefined;
    if (!ref || !('id' in ref)) continue;
    const found = known.get(keyOf(ref));
    if (found) out.set(keyOf(found), found);
  }
  return [...out.values()];
}

function clocked(m: Machines, list: Machine[]): Clocked[] {
  return list.map((machine) => ({ machine, nowMs: m.service.serverNow(machine.provider) }));
}

/** Palette fallback: pick machines among those still alive. */
async function pick(m: Machines, title: string, many: boolean, filter: (x: Machine) => boolean = () => true): Promise<Machine[]> {
  const live = m.service.machines().filter((x) => x.status !== 'destroying' && filter(x));
  if (!live.length) {
    void vscode.window.showInformationMessage('Thebacknd: no machine to act on.');
    return [];
  }
  const items = byDeadline(clocked(m, live)).map((c) => ({ ...machinePickRow(c), machine: c.machine }));
  if (!many) {
    const one = await vscode.window.showQuickPick(items, { title, matchOnDescription: true });
    return one ? [one.machine] : [];
  }
  const chosen = await vscode.window.showQuickPick(items, { title, canPickMany: true, matchOnDescription: true });
  return (chosen ?? []).map((i) => i.machine);
}

async function destroyEach(ctx: Ctx, m: Machines, list: Machine[], why: string): Promise<void> {
  const results = await Promise.allSettled(list.map((x) => m.service.destroy(x)));
  const failed: string[] = [];
  results.forEach((r, i) => {
    const x = list[i]!;
    if (r.status === 'fulfilled') void ctx.log('info', `Destroyed ${x.name} (${PROVIDER_LABEL[x.provider]}, id ${x.id}): ${why}.`);
    else failed.push(`${x.name}: ${messageOf(r.reason)}`);
  });
  await m.refresh.refreshNow();
  if (failed.length) throw new UserError(`Could not destroy ${failed.length === 1 ? failed[0] : `${failed.length} machines: ${failed.join('; ')}`}`);
}

/**
 * Menus pass (node, nodes) and always get the confirmation. A test inside VS Code, which cannot click a modal,
 * passes `{ confirm: false }` as the third argument; it is honoured only while VS Code runs the extension's tests,
 * so that no other extension can destroy a machine without the user's say.
 */
export async function destroy(ctx: Ctx, node?: unknown, nodes?: unknown, options?: unknown): Promise<void> {
  const m = ctx.machines;
  const list = node || nodes ? targets(m, node, nodes) : await pick(m, 'Thebacknd: Destroy which machines?', true);
  if (!list.length) return;
  const unconfirmed = (options as { confirm?: unknown } | undefined)?.confirm === false;
  if (unconfirmed && ctx.extension.extensionMode === vscode.ExtensionMode.Test) return destroyEach(ctx, m, list, 'destroyed on request');
  const names = list.map((x) => x.name).join(', ');
  const message = list.length === 1 ? `Destroy ${list[0]!.name}?` : `Destroy ${list.length} machines?`;
  const detail = `${list.length === 1 ? `${PROVIDER_LABEL[list[0]!.provider]} · ${ipOf(list[0]!) ?? 'no IP'}` : names}\n\nThis deletes the machine${list.length === 1 ? '' : 's'} and everything on ${list.length === 1 ? 'it' : 'them'}.`;
  const ok = await vscode.window.showWarningMessage(message, { modal: true, detail }, 'Destroy');
  if (ok !== 'Destroy') return;
  await destroyEach(ctx, m, list, 'destroyed by the user');
}

export async function destroyAll(ctx: Ctx): Promise<void> {
  const m = ctx.machines;
  // Count on a fresh list: the modal promises a number, and that number must be right.
  await m.refresh.refreshNow();
  const failed = m.service.failedProviders();
  if (failed.length)
    throw new UserError(`Cannot list the ${failed.map((p) => PROVIDER_LABEL[p]).join(' and ')} machines, so Destroy All would miss some; try again.`, { kind: 'retry' });
  // list() returns tagged machines only; the check stays here too, since this is the widest action there is.
  const list = m.service.machines().filter((x) => x.status !== 'destroying' && x.tagged !== false);
  if (!list.length) {
    void vscode.window.showInformationMessage('Thebacknd: no machine to destroy.');
    return;
  }
  const n = list.length;
  const ok = await vscode.window.showWarningMessage(
    `Destroy all ${n} Thebacknd machine${n === 1 ? '' : 's'}?`,
    { modal: true, detail: `${list.map((x) => x.name).join(', ')}\n\nOnly machines tagged "thebacknd" are touched.` },
    `Destroy ${n}`,
  );
  if (ok !== `Destroy ${n}`) return;
  await destroyEach(ctx, m, list, 'Destroy All');
}

export async function destroyOld(ctx: Ctx): Promise<void> {
  const m = ctx.machines;
  const done = await m.reaper.pass();
  const ok = done.filter((r) => !r.error);
  const bad = done.filter((r) => r.error);
  await m.refresh.refreshNow();
  if (bad.length) throw new UserError(`Could not destroy ${bad.map((r) => `${r.machine.name} (${r.error})`).join('; ')}`);
  const text = ok.length ? `Destroyed ${ok.map((r) => `${r.machine.name} (${reasonText(r)})`).join(', ')}.` : 'No machine is past its deadline or powered off.';
  void vscode.window.showInformationMessage(`Thebacknd: ${text}`);
}

export async function copyIp(ctx: Ctx, node?: unknown, nodes?: unknown): Promise<void> {
  const m = ctx.machines;
  const list = node || nodes ? targets(m, node, nodes) : await pick(m, 'Thebacknd: Copy the IP of which machine?', false, (x) => !!ipOf(x));
  const ips = list.map(ipOf).filter((x): x is string => !!x);
  if (!ips.length) {
    if (list.length) void vscode.window.showInformationMessage(`Thebacknd: ${list[0]!.name} has no IP address yet.`);
    return;
  }
  await vscode.env.clipboard.writeText(ips.join('\n'));
  void vscode.window.showInformationMessage(`Thebacknd: copied ${ips.join(', ')}.`);
}

/** Durations offered by Extend; the max-age setting comes first. */
const DURATIONS = [15, 30, 60, 120, 240];

export async function extend(ctx: Ctx, node?: unknown, nodes?: unknown, minutes?: unknown): Promise<void> {
  const m = ctx.machines;
  const list = node || nodes ? targets(m, node, nodes) : await pick(m, 'Thebacknd: Extend which machines?', true);
  if (!list.length) return;
  const by = typeof minutes === 'number' ? minutes : await pickMinutes(ctx.settings().maxAgeMinutes, list);
  if (!by) return;
  const lines: string[] = [];
  for (const x of list) {
    const deadline = await m.service.extend(x, by);
    const left = deadline.getTime() - m.service.serverNow(x.provider);
    lines.push(`${x.name} until ${deadline.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })} (${formatDuration(left)} left)`);
    void ctx.log('info', `Extended ${x.name} (${PROVIDER_LABEL[x.provider]}, id ${x.id}) by ${by} min: deadline ${deadline.toISOString()}.`);
  }
  void vscode.window.showInformationMessage(`Thebacknd: extended ${lines.join(', ')}.`);
  void m.refresh.refreshNow();
}

async function pickMinutes(maxAge: number, list: Machine[]): Promise<number | undefined> {
  const label = (n: number) => (n % 60 === 0 ? `+${n / 60} hour${n === 60 ? '' : 's'}` : `+${n} minutes`);
  const options = [maxAge, ...DURATIONS.filter((d) => d !== maxAge)];
  const items: (vscode.QuickPickItem & { minutes?: number })[] = options.map((n, i) => ({
    label: label(n),
    description: i === 0 ? 'the max age setting' : '',
    minutes: n,
  }));
  items.push({ label: 'Other…', description: 'a number of minutes' });
  const names = list.length === 1 ? list[0]!.name : `${list.length} machines`;
  const chosen = await vscode.window.showQuickPick(items, { title: `Thebacknd: Extend ${names} by…`, placeHolder: 'Added to the later of now and the current deadline' });
  if (!chosen) return undefined;
  if (chosen.minutes) return chosen.minutes;
  const typed = await vscode.window.showInputBox({
    title: `Thebacknd: Extend ${names} by how many minutes?`,
    validateInput: (v) => (/^\d+$/.test(v.trim()) && +v > 0 && +v <= 7 * 24 * 60 ? undefined : 'A whole number of minutes, at most a week.'),
  });
  return typed ? Number(typed.trim()) : undefined;
}

export async function refresh(ctx: Ctx): Promise<void> {
  const m = ctx.machines;
  // Refresh is the one way to ask for the reapers' status before its period is up.
  m.reaperView.watch.invalidate();
  // A token command's token the provider rejected is asked for again (the password manager may have a new one).
  for (const p of m.service.snapshot()) if (p.tokenSource === 'token command' && p.error?.auth) ctx.tokens.forget(p.id);
  await m.service.reconfigure();
}

/** The status bar's click: every machine with its countdown, then what to do with the one picked. */
export async function showMachines(ctx: Ctx): Promise<void> {
  const m = ctx.machines;
  const qp = vscode.window.createQuickPick<vscode.QuickPickItem & { machine?: Machine }>();
  qp.title = 'Thebacknd: machines';
  qp.matchOnDescription = true;
  qp.matchOnDetail = true;
  const fill = () => {
    const items = byDeadline(m.statusBar.clocked()).map((c) => ({ ...machinePickRow(c), machine: c.machine }));
    qp.items = items.length ? items : [{ label: 'No machine is running.', description: 'Run Toplevel…' }];
  };
  fill();
  qp.busy = true;
  const sub = m.service.onDidChange(fill);
  void m.refresh.refreshNow().finally(() => (qp.busy = false));
  const chosen = await new Promise<(vscode.QuickPickItem & { machine?: Machine }) | undefined>((resolve) => {
    qp.onDidAccept(() => resolve(qp.selectedItems[0]));
    qp.onDidHide(() => resolve(undefined));
    qp.show();
  });
  sub.dispose();
  qp.dispose();
  if (!chosen) return;
  if (!chosen.machine) {
    await vscode.commands.executeCommand('thebacknd.runToplevel');
    return;
  }
  await machineActions(ctx, chosen.machine);
}

async function machineActions(ctx: Ctx, x: Machine): Promise<void> {
  const m = ctx.machines;
  const left = msLeft(x, m.service.serverNow(x.provider));
  const actions = [
    { label: '$(watch) Extend…', run: () => extend(ctx, x) },
    ...(ipOf(x) ? [{ label: '$(copy) Copy IP', run: () => copyIp(ctx, x) }] : []),
    { label: '$(list-tree) Reveal in the Machines view', run: () => reveal(m, x) },
    { label: '$(trash) Destroy…', run: () => destroy(ctx, x) },
  ];
  const title = `Thebacknd: ${x.name}${left === undefined ? '' : left >= 0 ? ` · ${formatDuration(left)} left` : ' · overdue'}`;
  const a = await vscode.window.showQuickPick(actions, { title });
  await a?.run();
}

async function reveal(m: Machines, x: Machine): Promise<void> {
  const node = m.tree.nodeFor(x);
  if (node) await m.view.reveal(node, { select: true, focus: true });
}
