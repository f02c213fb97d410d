// Decides when the machine service lists again (machines/polling.ts holds the policy): fast while something is in
// transition, slowly while the view is visible, paused while it is hidden and nothing changes, backing off on
// errors. One timer at a time; the manager is itself the Disposable that stops it.

import * as vscode from 'vscode';
import type { MachineService } from '../machines/service';
import { POLL, pollDelay } from '../machines/polling';

export class RefreshManager implements vscode.Disposable {
  private timer: NodeJS.Timeout | undefined;
  private visible: boolean;
  private readonly subs: { dispose(): void }[];
  private disposed = false;

  constructor(
    private readonly service: MachineService,
    view: vscode.TreeView<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {
    this.visible = view.visible;
    this.subs = [
      // Every change (a list answered, an optimistic action) may change whether something is in transition.
      service.onDidChange(() => this.schedule()),
      view.onDidChangeVisibility((e) => {
        this.visible = e.visible;
        // Opening the view shows fresh data if what we have is older than the slow pace.
        if (e.visible && this.stale()) void this.refreshNow();
        else this.schedule();
      }),
      vscode.window.onDidChangeWindowState((s) => {
        if (s.focused && this.visible && this.stale()) void this.refreshNow();
      }),
    ];
  }

  /** Lists now (the Refresh command, a token change, activation). */
  refreshNow(): Promise<void> {
    const run = this.service.refresh();
    run.catch(this.onError);
    return run;
  }

  private stale(): boolean {
    return Date.now() - this.service.listedAt > POLL.slowMs;
  }

  private schedule(): void {
    if (this.disposed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const delay = pollDelay({ inTransition: this.service.inTransition(), visible: this.visible, failures: this.service.failures });
    if (delay === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refreshNow();
    }, delay);
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const s of this.subs) s.dispose();
  }
}
