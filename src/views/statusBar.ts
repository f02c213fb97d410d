// `$(server) thebacknd-2 · 41m`: a countdown to the soonest deadline, hidden while no machine runs. Under five
// minutes it takes the warning background and offers Extend once per machine and deadline. A click opens the
// quick pick of every machine with its countdown.

import * as vscode from 'vscode';
import type { Machine } from '../providers/types';
import type { MachineService } from '../machines/service';
import { keyOf } from '../machines/service';
import { REAPER_TOOLTIP_COMMANDS } from './reaperPresent';
import { byDeadline, formatDuration, machineIcon, machinePickRow, md, msLeft, statusBarModel, WARN_MS, withEffectiveDeadline, type Clocked } from './present';

const TICK_MS = 15_000;

export class CountdownStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly subs: { dispose(): void }[];
  private ticker: NodeJS.Timeout | undefined;
  /** `provider:id@deadline` already warned about: extending gives a new deadline, hence a new warning later. */
  private readonly warned = new Set<string>();

  constructor(
    private readonly service: MachineService,
    private readonly maxAgeMinutes: () => number,
    /** What reaps while VS Code is closed: Markdown lines for the tooltip, and when they change. */
    private readonly reaper?: { lines(): string[]; onDidChange(listener: () => void): { dispose(): void } },
  ) {
    this.item = vscode.window.createStatusBarItem('thebacknd.countdown', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'Thebacknd countdown';
    this.item.command = 'thebacknd.showMachines';
    this.subs = [service.onDidChange(() => this.update()), ...(reaper ? [reaper.onDidChange(() => this.update())] : [])];
    this.update();
  }

  /** Every machine with its provider's now and the deadline the reaper applies. */
  clocked(): Clocked[] {
    return this.service.machines().map((m) => ({
      machine: withEffectiveDeadline(m, this.maxAgeMinutes()).machine,
      nowMs: this.service.serverNow(m.provider),
    }));
  }

  update(): void {
    const items = this.clocked();
    const model = statusBarModel(items);
    if (!model) {
      this.item.hide();
      this.setTicking(false);
      return;
    }
    this.item.text = model.text;
    this.item.backgroundColor = model.warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.tooltip = tooltip(items, this.reaper?.lines() ?? []);
    this.item.accessibilityInformation = { label: `Thebacknd: ${model.text.replace(/^\$\([^)]*\)\s*/, '')}` };
    this.item.show();
    this.setTicking(true);
    this.warnSoon(items);
  }

  private setTicking(on: boolean): void {
    if (on && !this.ticker) this.ticker = setInterval(() => this.update(), TICK_MS);
    else if (!on && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  private warnSoon(items: Clocked[]): void {
    for (const c of items) {
      const m = c.machine;
      const left = msLeft(m, c.nowMs);
      if (m.status === 'destroying' || left === undefined || left >= WARN_MS || left < 0) continue;
      const key = `${keyOf(m)}@${m.deadline}`;
      if (this.warned.has(key)) continue;
      this.warned.add(key);
      void this.offerExtend(m, left);
    }
  }

  private async offerExtend(m: Machine, left: number): Promise<void> {
    const pick = await vscode.window.showWarningMessage(`Thebacknd: ${m.name} will be destroyed in ${formatDuration(left)}, at its deadline.`, 'Extend…', 'Show Machines');
    if (pick === 'Extend…') await vscode.commands.executeCommand('thebacknd.machine.extend', { kind: 'machine', machine: m });
    else if (pick === 'Show Machines') await vscode.commands.executeCommand('thebacknd.showMachines');
  }

  dispose(): void {
    this.setTicking(false);
    for (const s of this.subs) s.dispose();
    this.item.dispose();
  }
}

function tooltip(items: Clocked[], reaper: string[]): vscode.MarkdownString {
  const lines = byDeadline(items).map((c) => {
    const r = machinePickRow(c);
    return `- $(${machineIcon(c.machine, c.nowMs).id}) ${md(c.machine.name)} — ${md(r.description)}`;
  });
  const tip = new vscode.MarkdownString(
    `**Thebacknd machines**\n\n${lines.join('\n')}\n\n${reaper.length ? `${reaper.join('\n')}\n\n` : ''}[Show machines](command:thebacknd.showMachines) · [Refresh](command:thebacknd.refresh)`,
    true,
  );
  tip.isTrusted = { enabledCommands: ['thebacknd.showMachines', ...REAPER_TOOLTIP_COMMANDS] };
  return tip;
}
