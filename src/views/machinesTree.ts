// The Machines view: a node per provider (with a token, or pointed at an endpoint), its machines under it, and a
// notice row where something needs the user (missing or rejected token, failed list). It renders the machine
// service's snapshot and never calls a cloud itself; the refresh manager decides when to list.

import * as vscode from 'vscode';
import type { Machine, ProviderId } from '../providers/types';
import type { MachineService, ProviderSnapshot } from '../machines/service';
import { PROVIDER_LABEL } from '../base/tokens';
import {
  machineContextValue,
  machineDescription,
  machineIcon,
  machineTooltip,
  providerDescription,
  providerNotice,
  withEffectiveDeadline,
  type IconSpec,
  type NoticeSpec,
} from './present';
import type { ReaperRow } from './reaperPresent';

export interface ProviderNode {
  kind: 'provider';
  provider: ProviderId;
}
export interface MachineNode {
  kind: 'machine';
  machine: Machine;
  local: boolean;
}
export interface NoticeNode {
  kind: 'notice';
  provider: ProviderId;
  notice: NoticeSpec;
}
/** What reaps this provider's machines while VS Code is closed (reaperPresent.ts). */
export interface ReaperNode {
  kind: 'reaper';
  provider: ProviderId;
  row: ReaperRow;
}
export type Node = ProviderNode | MachineNode | NoticeNode | ReaperNode;

/** The reaper rows' source: a cached status (never fetched per render) and its change event. */
export interface ReaperRows {
  row(provider: ProviderId): ReaperRow | undefined;
  onDidChange(listener: () => void): { dispose(): void };
}

/** Re-renders the time left this often while the view is visible (descriptions count down in minutes). */
const TICK_MS = 30_000;

export class MachinesTree implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subs: { dispose(): void }[];
  private ticker: NodeJS.Timeout | undefined;
  /** Stable node objects per provider, so that reveal() and selection survive a refresh. */
  private readonly providerNodes = new Map<ProviderId, ProviderNode>();
  /** What the last refresh showed (see render()). */
  private shown: string | undefined;
  /** Extra facts about a machine known only here (its deploys): a suffix for the description, Markdown for the tooltip. */
  private decorate: ((m: Machine) => { description?: string; tooltip?: string } | undefined) | undefined;

  constructor(
    private readonly service: MachineService,
    private readonly maxAgeMinutes: () => number,
    private readonly reaper?: ReaperRows,
  ) {
    this.subs = [service.onDidChange(() => this.render()), ...(reaper ? [reaper.onDidChange(() => this.render())] : [])];
  }

  /**
   * Refreshes the view only when what it shows has changed. Each refresh makes VS Code forget the rows' handles until
   * it has asked for the children again; a click on a row's action in that moment reaches the command without its
   * machine (the command then asks which machine). Lists repeat every few seconds, mostly unchanged: those no longer
   * refresh. Tooltips (cost so far, age) are not compared: they are at most a minute old, as the countdown is.
   */
  private render(force = false): void {
    const now = this.signature();
    if (!force && now === this.shown) return;
    this.shown = now;
    this.changed.fire(undefined);
  }

  private signature(): string {
    const parts: string[] = [];
    const walk = (parent?: Node): void => {
      for (const n of this.getChildren(parent)) {
        const i = this.getTreeItem(n);
        parts.push([i.id, i.label, i.description, i.contextValue, (i.iconPath as vscode.ThemeIcon | undefined)?.id, i.command?.command].join('\u0000'));
        walk(n);
      }
    };
    walk();
    return parts.join('\n');
  }

  /** Sets what the tree adds to a machine's row (deploys); re-renders when it says something changed. */
  setDecorator(fn: (m: Machine) => { description?: string; tooltip?: string } | undefined): void {
    this.decorate = fn;
    this.render();
  }

  /** Something the decorator reads has changed. */
  redecorate(): void {
    this.render();
  }

  /** Counts down only while someone looks. */
  setVisible(visible: boolean): void {
    if (visible && !this.ticker) {
      this.ticker = setInterval(() => this.render(), TICK_MS);
      this.render(true);
    } else if (!visible && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  getChildren(node?: Node): Node[] {
    const snapshot = this.service.snapshot();
    // No token anywhere: an empty tree lets the welcome view explain what to do. Once one provider has a token, a
    // provider pointed at an endpoint but without a token shows, saying so.
    if (!node) return snapshot.some((p) => p.tokenSource) ? snapshot.map((p) => this.providerNode(p.id)) : [];
    if (node.kind !== 'provider') return [];
    const p = snapshot.find((x) => x.id === node.provider);
    if (!p) return [];
    const notice = providerNotice(p);
    const rows: Node[] = notice ? [{ kind: 'notice', provider: p.id, notice }] : [];
    // A rejected token (or a failed token command) already has its row; the reaper's status would only repeat it.
    const reaper = p.tokenSource && !p.error?.auth && !p.error?.tokenCommand ? this.reaper?.row(p.id) : undefined;
    if (reaper) rows.push({ kind: 'reaper', provider: p.id, row: reaper });
    const machines = [...p.machines].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    return rows.concat(machines.map((m) => ({ kind: 'machine', machine: m, local: p.local })));
  }

  getParent(node: Node): Node | undefined {
    if (node.kind === 'provider') return undefined;
    return this.providerNode(node.kind === 'machine' ? node.machine.provider : node.provider);
  }

  getTreeItem(node: Node): vscode.TreeItem {
    switch (node.kind) {
      case 'provider':
        return this.providerItem(node);
      case 'notice':
        return noticeItem(node);
      case 'reaper':
        return reaperItem(node);
      case 'machine':
        return this.machineItem(node);
    }
  }

  private providerNode(id: ProviderId): ProviderNode {
    let n = this.providerNodes.get(id);
    if (!n) this.providerNodes.set(id, (n = { kind: 'provider', provider: id }));
    return n;
  }

  private providerItem(node: ProviderNode): vscode.TreeItem {
    const p: ProviderSnapshot | undefined = this.service.snapshot().find((x) => x.id === node.provider);
    const item = new vscode.TreeItem(PROVIDER_LABEL[node.provider], vscode.TreeItemCollapsibleState.Expanded);
    item.id = `provider:${node.provider}`;
    item.contextValue = `provider:${node.provider}${p?.local ? '+local' : ''}`;
    item.iconPath = new vscode.ThemeIcon(p?.local ? 'beaker' : 'cloud');
    if (p) {
      item.description = providerDescription(p);
      const where = p.endpoint ? `API: \`${p.endpoint}\`${p.local ? ' (the local emulator, not the real cloud)' : ''}` : 'API: the real cloud';
      const token = p.tokenSource ? `token from ${p.tokenSource}` : 'no token';
      item.tooltip = new vscode.MarkdownString(`**${PROVIDER_LABEL[p.id]}**\n\n${where}\n\n${token}`);
    }
    return item;
  }

  private machineItem(node: MachineNode): vscode.TreeItem {
    const now = this.service.serverNow(node.machine.provider);
    const { machine: m, implicit } = withEffectiveDeadline(node.machine, this.maxAgeMinutes());
    const item = new vscode.TreeItem(m.name, vscode.TreeItemCollapsibleState.None);
    item.id = `machine:${m.provider}:${m.id}`;
    item.description = machineDescription(m, now);
    item.contextValue = machineContextValue(m);
    item.iconPath = themeIcon(machineIcon(m, now));
    const extra = this.decorate?.(m);
    if (extra?.description) item.description = `${item.description} · ${extra.description}`;
    const tip = new vscode.MarkdownString(`${machineTooltip(m, now, { local: node.local, implicitDeadline: implicit })}${extra?.tooltip ? `\n\n${extra.tooltip}` : ''}`);
    tip.supportThemeIcons = true;
    item.tooltip = tip;
    item.accessibilityInformation = { label: `${m.name}, ${m.status}, ${item.description}` };
    return item;
  }

  /** The node currently shown for a machine (for reveal()). */
  nodeFor(m: Pick<Machine, 'provider' | 'id'>): MachineNode | undefined {
    const p = this.service.snapshot().find((x) => x.id === m.provider);
    const found = p?.machines.find((x) => x.id === m.id);
    return found && p ? { kind: 'machine', machine: found, local: p.local } : undefined;
  }

  dispose(): void {
    this.setVisible(false);
    for (const s of this.subs) s.dispose();
    this.changed.dispose();
  }
}

function noticeItem(node: NoticeNode): vscode.TreeItem {
  const n = node.notice;
  const item = new vscode.TreeItem(n.label, vscode.TreeItemCollapsibleState.None);
  item.id = `notice:${node.provider}`;
  item.description = n.description;
  item.contextValue = 'notice';
  item.iconPath = themeIcon(n.icon);
  if (n.tooltip) item.tooltip = n.tooltip;
  if (n.command) item.command = { command: n.command, title: n.description || n.label };
  return item;
}

function reaperItem(node: ReaperNode): vscode.TreeItem {
  const r = node.row;
  const item = new vscode.TreeItem(r.label, vscode.TreeItemCollapsibleState.None);
  item.id = `reaper:${node.provider}`;
  item.description = r.description;
  item.contextValue = r.contextValue;
  item.iconPath = themeIcon(r.icon);
  const tip = new vscode.MarkdownString(r.tooltip);
  tip.supportThemeIcons = true;
  item.tooltip = tip;
  if (r.command) item.command = { command: r.command.id, title: r.description || r.label, arguments: r.command.args };
  return item;
}

function themeIcon(i: IconSpec): vscode.ThemeIcon {
  return new vscode.ThemeIcon(i.id, i.color ? new vscode.ThemeColor(i.color) : undefined);
}
