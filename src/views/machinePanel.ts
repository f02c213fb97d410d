// The machine panel: one webview per machine (webview-sample's createOrShow/dispose), with a strict CSP (nothing
// but our own script, by nonce, and our own stylesheet), local resources limited to the panel's two folders, and
// no remote content. It shows a PanelModel: the run's own when the run happens in this window, otherwise one fed
// by following the machine's boot log over SSH. Buttons come back as messages and run the ordinary commands.

import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { Machine } from '../providers/types';
import { keyOf } from '../machines/service';
import { messageOf } from '../base/errors';
import { loadMachineKeys } from '../ssh/keys';
import { sshTargetFor } from '../ssh/session';
import { streamBootLog } from '../ssh/boot-log';
import { readDeployHistory } from '../deploy/history';
import type { Machines } from './machines';
import { PanelModel, parseFromWebview, toPanelMachine, type PanelAction, type RenderedReport, type ToWebview } from './panelModel';

export interface MachinePanelsDeps {
  extensionUri: vscode.Uri;
  machines: Machines;
  storageDir: string;
  /** The model of a run of this window for that machine, if there is one. */
  runModel(m: Pick<Machine, 'runId'>): PanelModel | undefined;
  bootLogCommand: string;
}

const ACTION_COMMAND: Record<PanelAction, string> = {
  openTerminal: 'thebacknd.machine.openTerminal',
  showBootLog: 'thebacknd.machine.showBootLog',
  extend: 'thebacknd.machine.extend',
  destroy: 'thebacknd.machine.destroy',
  deploy: 'thebacknd.machine.deploy',
  toggleDeployOnSave: 'thebacknd.deploy.toggleOnSave',
};

export class MachinePanels implements vscode.Disposable {
  static readonly viewType = 'thebacknd.machinePanel';
  private readonly panels = new Map<string, MachinePanel>();

  constructor(private readonly deps: MachinePanelsDeps) {}

  /** Shows the machine's panel, creating it if needed. */
  createOrShow(machine: Machine): MachinePanel {
    const key = panelKey(machine);
    const existing = this.panels.get(key);
    if (existing) {
      existing.reveal();
      return existing;
    }
    const panel = new MachinePanel(this.deps, machine, () => this.panels.delete(key));
    this.panels.set(key, panel);
    return panel;
  }

  get(machine: Pick<Machine, 'provider' | 'id' | 'runId'>): MachinePanel | undefined {
    return this.panels.get(panelKey(machine));
  }

  dispose(): void {
    for (const p of [...this.panels.values()]) p.dispose();
  }
}

function panelKey(m: Pick<Machine, 'provider' | 'id' | 'runId'>): string {
  return m.runId ?? keyOf(m);
}

export class MachinePanel implements vscode.Disposable {
  readonly webviewPanel: vscode.WebviewPanel;
  readonly model: PanelModel;
  private machine: Machine;
  private readonly subs: vscode.Disposable[] = [];
  private readonly rendered = new vscode.EventEmitter<RenderedReport>();
  /** Fires with what the webview shows after each render (the integration tests read it). */
  readonly onDidRender = this.rendered.event;
  lastRendered: RenderedReport | undefined;
  private stream: AbortController | undefined;
  private following = false;
  private listedOnce = false;
  private timer: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(
    private readonly deps: MachinePanelsDeps,
    machine: Machine,
    private readonly onDispose: () => void,
  ) {
    this.machine = machine;
    this.model = deps.runModel(machine) ?? new PanelModel(machine.name, machine.runId);
    const roots = [vscode.Uri.joinPath(deps.extensionUri, 'dist', 'panel'), vscode.Uri.joinPath(deps.extensionUri, 'media', 'panel')];
    this.webviewPanel = vscode.window.createWebviewPanel(MachinePanels.viewType, `Thebacknd: ${machine.name}`, vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: roots,
    });
    this.webviewPanel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'thebacknd.svg');
    this.webviewPanel.webview.html = this.html();
    this.subs.push(
      this.rendered,
      this.webviewPanel.onDidDispose(() => this.dispose()),
      // Fire-and-forget: the listener is synchronous, and receive() only runs our own commands, which report their
      // errors themselves (commands/register.ts).
      this.webviewPanel.webview.onDidReceiveMessage((m: unknown) => void this.receive(m)),
      this.model.onDidChange(() => this.schedule()),
      deps.machines.service.onDidChange(() => this.refreshMachine()),
    );
    this.refreshMachine();
  }

  reveal(): void {
    this.webviewPanel.reveal();
  }

  /** Resolves with the next render report that satisfies `test`. */
  whenRendered(test: (r: RenderedReport) => boolean, timeoutMs = 30_000): Promise<RenderedReport> {
    return new Promise((resolve, reject) => {
      if (this.lastRendered && test(this.lastRendered)) return resolve(this.lastRendered);
      const timer = setTimeout(() => {
        sub.dispose();
        reject(new Error(`The panel did not render as expected within ${timeoutMs} ms; last: ${JSON.stringify(this.lastRendered)}`));
      }, timeoutMs);
      const sub = this.onDidRender((r) => {
        if (!test(r)) return;
        clearTimeout(timer);
        sub.dispose();
        resolve(r);
      });
    });
  }

  private async receive(raw: unknown): Promise<void> {
    const m = parseFromWebview(raw);
    if (!m) return;
    if (m.type === 'ready') {
      this.post({ type: 'state', state: this.model.state });
      this.model.takeNewLines();
      this.post({ type: 'log', lines: this.model.log.slice(), reset: true });
    } else if (m.type === 'rendered') {
      this.lastRendered = m.report;
      this.rendered.fire(m.report);
    } else if (m.type === 'action') {
      await vscode.commands.executeCommand(ACTION_COMMAND[m.action], this.machine);
    }
  }

  /** At most one post per 150 ms: a fast log does not flood the webview. */
  private schedule(): void {
    if (this.timer || this.disposed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.disposed) return;
      this.post({ type: 'state', state: this.model.state });
      const { lines, reset } = this.model.takeNewLines();
      if (lines.length || reset) this.post({ type: 'log', lines, reset });
    }, 150);
  }

  private post(m: ToWebview): void {
    void this.webviewPanel.webview.postMessage(m);
  }

  /** Fresh machine state from the tree's list; starts following the log once SSH is possible. */
  private refreshMachine(): void {
    const service = this.deps.machines.service;
    const key = keyOf(this.machine);
    const fresh = service.machines().find((m) => keyOf(m) === key);
    const listed = service.snapshot().find((p) => p.id === this.machine.provider);
    if (fresh) this.listedOnce = true;
    const gone = this.listedOnce && !fresh && !!listed?.loaded && !listed.error;
    if (fresh) this.machine = fresh;
    this.model.update({
      machine: toPanelMachine(this.machine),
      title: this.machine.name,
      gone,
      serverOffsetMs: service.serverNow(this.machine.provider) - Date.now(),
      ...(gone && !this.model.state.gone ? { message: `${this.machine.name} was destroyed.` } : {}),
    });
    this.webviewPanel.title = `Thebacknd: ${this.machine.name}${gone ? ' (destroyed)' : ''}`;
    if (gone) this.stopStream();
    else void this.checkKeysAndFollow();
  }

  private async checkKeysAndFollow(): Promise<void> {
    if (this.following) return;
    this.following = true;
    try {
      await this.follow();
    } finally {
      this.following = false;
    }
  }

  private async follow(): Promise<void> {
    const m = this.machine;
    const keys = m.runId ? await loadMachineKeys(this.deps.storageDir, m.runId).catch(() => undefined) : undefined;
    if (this.disposed) return;
    if (this.model.state.hasKeys !== !!keys) this.model.update({ hasKeys: !!keys });
    if (keys && m.runId && !this.model.state.deploys) this.model.update({ deploys: await readDeployHistory(this.deps.storageDir, m.runId) });
    // A run of this window feeds its own model; only a machine met otherwise needs its own stream.
    if (this.stream || !keys || this.deps.runModel(m) === this.model) return;
    const ip = m.ipv4 ?? m.ipv6;
    if (!ip || m.status === 'destroying' || m.status === 'off') return;
    const abort = new AbortController();
    this.stream = abort;
    const target = await sshTargetFor(keys, ip);
    this.model.clearLog();
    streamBootLog({ target, command: this.deps.bootLogCommand, signal: abort.signal }, (e) => {
      if (e.kind === 'line') this.model.line(e.line);
      else if (e.kind === 'status') this.model.update({ message: e.message });
    }).catch((err: unknown) => {
      if (!abort.signal.aborted) this.model.update({ message: messageOf(err) });
    });
  }

  private stopStream(): void {
    this.stream?.abort();
  }

  private html(): string {
    const webview = this.webviewPanel.webview;
    const nonce = randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(this.deps.extensionUri, 'dist', 'panel', 'panel.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(this.deps.extensionUri, 'media', 'panel', 'panel.css'));
    const csp = ["default-src 'none'", `style-src ${webview.cspSource}`, `font-src ${webview.cspSource}`, `img-src ${webview.cspSource}`, `script-src 'nonce-${nonce}'`].join('; ');
    const button = (action: PanelAction, label: string, secondary = false) =>
      `<vscode-button data-action="${action}"${secondary ? ' secondary' : ''} disabled>${label}</vscode-button>`;
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}">
<title>Thebacknd machine</title>
</head>
<body>
<header><h1 id="title"></h1><vscode-badge id="status"></vscode-badge><vscode-progress-ring id="busy" hidden></vscode-progress-ring></header>
<dl class="facts">
<dt>Where</dt><dd id="where"></dd>
<dt>Address</dt><dd id="address"></dd>
<dt>Price</dt><dd id="price"></dd>
<dt>Cost so far</dt><dd id="cost"></dd>
<dt>Destroyed in</dt><dd id="countdown"></dd>
<dt>Toplevel</dt><dd id="toplevel"></dd>
</dl>
<div class="buttons">
${button('openTerminal', 'Open Terminal')}
${button('showBootLog', 'Show Boot Log', true)}
${button('deploy', 'Deploy…', true)}
${button('extend', 'Extend…', true)}
${button('destroy', 'Destroy…', true)}
</div>
<div id="keys"></div>
<div id="message"></div>
<vscode-divider></vscode-divider>
<h2>Stages</h2>
<ol class="timeline" id="timeline"></ol>
<div class="empty" id="no-stages">No stage seen yet.</div>
<h2>Deploys</h2>
<div class="buttons">${button('toggleDeployOnSave', 'Deploy on save: off', true)}</div>
<ol class="deploys" id="deploys"></ol>
<div class="empty" id="no-deploys">No deploy from this computer yet.</div>
<h2>Log</h2>
<pre id="log" tabindex="0"></pre>
<div class="empty" id="no-log">No log line yet.</div>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.timer);
    this.stopStream();
    this.onDispose();
    for (const s of this.subs) s.dispose();
    this.webviewPanel.dispose();
  }
}
