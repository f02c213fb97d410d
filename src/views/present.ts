// How a machine looks: label, description, icon, contextValue, tooltip, status-bar text, quick-pick rows.
// Pure and vscode-free (the tree and the status bar wrap these in ThemeIcon/TreeItem), so plain unit tests pin it.
// Every "now" here is the provider's now (MachineService.serverNow), never the local clock alone.

import type { Machine, MachineStatus, ProviderId } from '../providers/types';
import { PROVIDER_LABEL } from '../base/tokens';
import { honouredDeadline } from '../reaper/policy';

/** Under this much time left the countdown turns to the warning colour and offers Extend. */
export const WARN_MS = 5 * 60_000;

export interface IconSpec {
  /** A codicon id (`vm-running`, `loading~spin`). */
  id: string;
  /** A theme colour id, or undefined for the default foreground. */
  color: string | undefined;
}

export function ipOf(m: Pick<Machine, 'ipv4' | 'ipv6'>): string | undefined {
  return m.ipv4 ?? m.ipv6;
}

/** Milliseconds until the deadline (negative once past), or undefined without a readable deadline. */
export function msLeft(m: Pick<Machine, 'deadline'>, nowMs: number): number | undefined {
  const d = m.deadline ? Date.parse(m.deadline) : NaN;
  return Number.isFinite(d) ? d - nowMs : undefined;
}

/**
 * The deadline the reaper applies: the one stored on the machine, else created + max age (reaper-policy.ts treats a
 * machine without a deadline tag that way). `implicit` says the deadline is not on the machine.
 */
export function withEffectiveDeadline(m: Machine, maxAgeMinutes: number): { machine: Machine; implicit: boolean } {
  if (m.deadline && Number.isFinite(Date.parse(m.deadline))) return { machine: m, implicit: false };
  const created = Date.parse(m.createdAt);
  if (!Number.isFinite(created)) return { machine: m, implicit: false };
  return { machine: { ...m, deadline: new Date(created + maxAgeMinutes * 60_000).toISOString() }, implicit: true };
}

/** 45s, 41m, 1h 05m, 2d 3h: the coarsest unit that still tells whether to act. Minutes are floored. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** `41m left`, `overdue 3m`, `no deadline`. */
export function timeLeftText(m: Pick<Machine, 'deadline'>, nowMs: number): string {
  const left = msLeft(m, nowMs);
  if (left === undefined) return 'no deadline';
  return left >= 0 ? `${formatDuration(left)} left` : `overdue ${formatDuration(-left)}`;
}

/** Time left as the reaper counts it; a deadline tag beyond what Extend allows is called tampered, plainly. */
function leftText(m: Machine, nowMs: number): string {
  const h = honouredDeadline(m);
  if (!h?.tampered) return timeLeftText(m, nowMs);
  return `tampered deadline (${m.deadline}), honoured to ${timeLeftText({ deadline: new Date(h.at).toISOString() }, nowMs)}`;
}

/** The tree row's description: `IP · 41m left`, with the state spelled out where the icon alone is ambiguous. */
export function machineDescription(m: Machine, nowMs: number): string {
  const ip = ipOf(m);
  switch (m.status) {
    case 'destroying':
      return 'destroying…';
    case 'off':
      return [ip, 'powered off · reaped at the next pass'].filter(Boolean).join(' · ');
    case 'creating':
      return [ip ?? 'creating…', leftText(m, nowMs)].join(' · ');
    case 'running':
      return [ip ?? 'no IP', leftText(m, nowMs)].join(' · ');
  }
}

/**
 * `machine:<state>` then traits, matched by the manifest's menus (`viewItem =~ /^machine:running\b.*\+ssh/`).
 * `+ip`: there is an address to copy. `+ssh`: a terminal can be opened (for now: it has an address).
 */
export function machineContextValue(m: Machine): string {
  const ip = ipOf(m);
  return `machine:${m.status}${ip ? '+ip' : ''}${ip ? '+ssh' : ''}`;
}

/** The state's icon and colour; a running machine close to or past its deadline takes the warning/error colour. */
export function machineIcon(m: Machine, nowMs: number): IconSpec {
  const byState: Record<MachineStatus, IconSpec> = {
    creating: { id: 'loading~spin', color: 'charts.yellow' },
    running: { id: 'vm-running', color: 'charts.green' },
    off: { id: 'vm-outline', color: 'disabledForeground' },
    destroying: { id: 'trash', color: 'charts.red' },
  };
  const icon = byState[m.status];
  if (m.status !== 'running') return icon;
  const left = msLeft(m, nowMs);
  if (left !== undefined && left < 0) return { id: icon.id, color: 'errorForeground' };
  if (left !== undefined && left < WARN_MS) return { id: icon.id, color: 'list.warningForeground' };
  return icon;
}

export function formatPrice(amount: number, currency: 'USD' | 'EUR'): string {
  const digits = amount >= 1 ? 2 : amount >= 0.01 ? 3 : 4;
  return currency === 'USD' ? `$${amount.toFixed(digits)}` : `€${amount.toFixed(digits)}`;
}

/**
 * What the machine has cost so far, as the clouds bill it: DigitalOcean per second with a one-minute minimum,
 * Hetzner per started hour. Undefined when the price is unknown.
 */
export function costSoFar(m: Pick<Machine, 'provider' | 'pricePerHour' | 'createdAt'>, nowMs: number): number | undefined {
  if (m.pricePerHour === undefined) return undefined;
  const age = Math.max(0, nowMs - Date.parse(m.createdAt));
  if (!Number.isFinite(age)) return undefined;
  const hours = m.provider === 'hetzner' ? Math.max(1, Math.ceil(age / 3_600_000)) : Math.max(60_000, age) / 3_600_000;
  return m.pricePerHour * hours;
}

/** Escapes Markdown so that a name or path from the cloud cannot inject links or formatting. */
export function md(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~]/g, '\\$&');
}

export interface TooltipOptions {
  /** Marks an endpoint on this machine. */
  local?: boolean;
  /** Formats an absolute time for the reader (their time zone). */
  clock?: (d: Date) => string;
  /** The deadline shown is created + max age, not one stored on the machine. */
  implicitDeadline?: boolean;
}

/** The row's Markdown tooltip. */
export function machineTooltip(m: Machine, nowMs: number, o: TooltipOptions = {}): string {
  const clock = o.clock ?? ((d: Date) => d.toLocaleString());
  const rows: [string, string][] = [];
  rows.push(['Provider', `${PROVIDER_LABEL[m.provider]}${o.local ? ' (local emulator)' : ''}`]);
  rows.push(['Region', md(m.region)]);
  rows.push(['Size', md(m.size)]);
  if (m.ipv4) rows.push(['IPv4', `\`${m.ipv4}\``]);
  if (m.ipv6) rows.push(['IPv6', `\`${m.ipv6}\``]);
  rows.push(['Price', m.pricePerHour === undefined ? 'unknown' : `${formatPrice(m.pricePerHour, m.currency)} per hour`]);
  const cost = costSoFar(m, nowMs);
  rows.push(['Cost so far', cost === undefined ? 'unknown' : `≈ ${formatPrice(cost, m.currency)}`]);
  const created = Date.parse(m.createdAt);
  rows.push(['Age', Number.isFinite(created) ? `${formatDuration(nowMs - created)} (created ${md(clock(new Date(created)))})` : 'unknown']);
  const left = msLeft(m, nowMs);
  const implicit = o.implicitDeadline ? ' · none on the machine: created + max age' : '';
  rows.push(['Deadline', left === undefined || !m.deadline ? 'none' : `${md(clock(new Date(m.deadline)))} (${timeLeftText(m, nowMs)}${implicit})`]);
  rows.push(['Toplevel', m.toplevel ? `\`${m.toplevel}\`` : 'base image']);
  rows.push(['Run id', m.runId ? `\`${m.runId}\`` : 'unknown']);
  const table = ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
  return `**${md(m.name)}** · ${m.status}\n\n${table}`;
}

export interface StatusBarModel {
  text: string;
  /** Under WARN_MS (or overdue): the warning background. */
  warning: boolean;
  /** The machine the countdown is about. */
  soonest: Machine | undefined;
  /** Machines counted (everything not being destroyed). */
  count: number;
}

/** A clocked machine: the machine and its provider's current time. */
export interface Clocked {
  machine: Machine;
  nowMs: number;
}

/** `$(server) thebacknd-2 · 41m` for the soonest deadline; undefined (hidden) while no machine runs. */
export function statusBarModel(items: readonly Clocked[]): StatusBarModel | undefined {
  const live = items.filter((i) => i.machine.status !== 'destroying');
  if (!live.length) return undefined;
  let best: { c: Clocked; left: number } | undefined;
  for (const c of live) {
    const left = msLeft(c.machine, c.nowMs);
    if (left !== undefined && (!best || left < best.left)) best = { c, left };
  }
  if (!best)
    return { text: `$(server) ${live.length === 1 ? live[0]!.machine.name : `${live.length} machines`} · no deadline`, warning: false, soonest: undefined, count: live.length };
  const when = best.left >= 0 ? formatDuration(best.left) : `overdue ${formatDuration(-best.left)}`;
  const more = live.length > 1 ? ` +${live.length - 1}` : '';
  return { text: `$(server) ${best.c.machine.name} · ${when}${more}`, warning: best.left < WARN_MS, soonest: best.c.machine, count: live.length };
}

/** Machines ordered soonest deadline first (no deadline last), for the quick pick. */
export function byDeadline(items: readonly Clocked[]): Clocked[] {
  const key = (c: Clocked) => msLeft(c.machine, c.nowMs) ?? Number.POSITIVE_INFINITY;
  return [...items].sort((a, b) => key(a) - key(b) || a.machine.name.localeCompare(b.machine.name, undefined, { numeric: true }));
}

export interface PickRow {
  label: string;
  description: string;
  detail: string;
}

export function machinePickRow(c: Clocked): PickRow {
  const m = c.machine;
  const ip = ipOf(m);
  const price = m.pricePerHour === undefined ? '' : ` · ${formatPrice(m.pricePerHour, m.currency)}/h`;
  return {
    label: `$(${machineIcon(m, c.nowMs).id}) ${m.name}`,
    description: [m.status === 'destroying' ? 'destroying…' : timeLeftText(m, c.nowMs), ip].filter(Boolean).join(' · '),
    detail: `${PROVIDER_LABEL[m.provider]} · ${m.region} · ${m.size}${price} · ${m.status}`,
  };
}

function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).host;
  } catch {
    return endpoint;
  }
}

/** What a provider row says under its name. */
export function providerDescription(p: { tokenSource: string | undefined; local: boolean; endpoint: string; machines: readonly Machine[]; loaded: boolean }): string {
  const parts: string[] = [];
  // Where the token goes is said in the row itself, not only in its tooltip.
  if (p.local) parts.push(`local emulator at ${hostOf(p.endpoint)}`);
  else if (p.endpoint) parts.push(`API ${p.endpoint} (not the default)`);
  if (p.loaded) parts.push(p.machines.length === 1 ? '1 machine' : `${p.machines.length} machines`);
  if (p.tokenSource === 'environment') parts.push('token from environment');
  else if (p.tokenSource === 'token command') parts.push('token from command');
  return parts.join(' · ');
}

export const SET_TOKEN_COMMAND: Record<ProviderId, string> = {
  digitalocean: 'thebacknd.setDigitalOceanToken',
  hetzner: 'thebacknd.setHetznerToken',
};

/** The notice row under a provider: missing or rejected token, a failed list, or nothing to show yet. */
export interface NoticeSpec {
  label: string;
  description: string;
  tooltip: string;
  icon: IconSpec;
  command: string | undefined;
}

export function providerNotice(p: {
  id: ProviderId;
  tokenSource: string | undefined;
  loaded: boolean;
  machines: readonly Machine[];
  error: { message: string; auth: boolean; tokenCommand?: boolean } | undefined;
}): NoticeSpec | undefined {
  const label = PROVIDER_LABEL[p.id];
  if (!p.tokenSource) {
    return {
      label: `No ${label} token`,
      description: 'click to set one',
      tooltip: `Thebacknd has no ${label} API token. Set one to list and create machines.`,
      icon: { id: 'key', color: 'list.warningForeground' },
      command: SET_TOKEN_COMMAND[p.id],
    };
  }
  if (p.error?.tokenCommand) {
    return {
      label: `${label} token command failed`,
      description: 'click to run it again',
      tooltip: p.error.message,
      icon: { id: 'error', color: 'errorForeground' },
      command: 'thebacknd.refresh',
    };
  }
  if (p.error?.auth) {
    return {
      label: `${label} rejected the token`,
      description: 'click to set a new one',
      tooltip: p.error.message,
      icon: { id: 'error', color: 'errorForeground' },
      command: SET_TOKEN_COMMAND[p.id],
    };
  }
  if (p.error) {
    return {
      label: `Failed to list ${label} machines`,
      description: p.loaded ? 'showing the last known list · retrying' : 'retrying',
      tooltip: p.error.message,
      icon: { id: 'warning', color: 'list.warningForeground' },
      command: 'thebacknd.refresh',
    };
  }
  if (!p.loaded) return { label: 'Loading…', description: '', tooltip: '', icon: { id: 'loading~spin', color: undefined }, command: undefined };
  if (!p.machines.length) {
    return {
      label: 'No machines',
      description: 'Run Toplevel…',
      tooltip: 'Nothing runs here: nothing costs.',
      icon: { id: 'info', color: undefined },
      command: 'thebacknd.runToplevel',
    };
  }
  return undefined;
}
