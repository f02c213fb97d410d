// The machine panel's webview: renders the state the extension posts (src/views/machinePanel.ts) with
// @vscode-elements/elements, counts down and adds up the cost every second on the provider's clock, and posts the
// buttons back. Bundled by scripts/build.mjs into dist/panel/panel.js. Data only ever goes into textContent.

import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-divider/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import { LOG_TAIL, type FromWebview, type PanelAction, type PanelState, type ToWebview } from '../../src/views/panelModel';
import { costSoFar, formatPrice, timeLeftText } from '../../src/views/present';
import { PROVIDER_LABEL } from '../../src/base/tokens';

declare function acquireVsCodeApi(): { postMessage(message: FromWebview): void };

const vscode = acquireVsCodeApi();
const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

let state: PanelState | undefined;
const logLines: Text[] = [];

function text(el: HTMLElement, value: string): void {
  if (el.textContent !== value) el.textContent = value;
}

function now(): number {
  return Date.now() + (state?.serverOffsetMs ?? 0);
}

function statusText(s: PanelState): string {
  if (s.gone) return 'destroyed';
  switch (s.status) {
    case 'running':
      return 'starting';
    case 'ready':
      return 'ready';
    case 'failed':
      return 'failed';
    case 'cancelled':
      return 'cancelled';
    case 'idle':
      return s.machine?.status ?? 'unknown';
  }
}

function renderFacts(s: PanelState): void {
  const m = s.machine;
  text($('title'), s.title);
  const badge = $('status');
  text(badge, statusText(s));
  badge.dataset.status = s.gone ? 'gone' : s.status;
  $('busy').hidden = s.status !== 'running' || s.gone;
  text($('where'), m ? `${PROVIDER_LABEL[m.provider]} · ${m.region} · ${m.size}` : 'not created yet');
  text($('address'), m ? (m.ipv4 ?? m.ipv6 ?? 'no address yet') : '—');
  text($('price'), m?.pricePerHour === undefined ? 'unknown' : `${formatPrice(m.pricePerHour, m.currency)} per hour`);
  text($('toplevel'), s.storePath ?? m?.toplevel ?? (m ? 'base image' : '—'));
  text($('message'), s.message ?? '');
  $('message').dataset.status = s.status;
  tick();
}

/** The two numbers that move every second. */
function tick(): void {
  const m = state?.machine;
  const cost = m && !state?.gone ? costSoFar(m, now()) : undefined;
  text($('cost'), cost === undefined ? '—' : `≈ ${formatPrice(cost, m!.currency)}`);
  text($('countdown'), m && !state?.gone ? timeLeftText(m, now()) : '—');
}

function renderButtons(s: PanelState): void {
  const m = s.machine;
  const alive = !!m && !s.gone && m.status !== 'destroying';
  const reachable = alive && s.hasKeys && !!(m!.ipv4 ?? m!.ipv6);
  const enable: Record<PanelAction, boolean> = {
    openTerminal: reachable && m!.status === 'running',
    showBootLog: reachable,
    extend: alive,
    destroy: alive,
    deploy: reachable && m!.status === 'running',
    toggleDeployOnSave: reachable && m!.status === 'running',
  };
  for (const [action, on] of Object.entries(enable)) {
    const b = document.querySelector<HTMLElement & { disabled: boolean }>(`vscode-button[data-action="${action}"]`);
    if (b) b.disabled = !on;
  }
  const toggle = document.querySelector<HTMLElement>('vscode-button[data-action="toggleDeployOnSave"]');
  if (toggle) text(toggle, `Deploy on save: ${s.deployOnSave ? 'on' : 'off'}`);
  text($('keys'), m && !s.hasKeys && !s.gone ? 'This computer does not hold the SSH keys of this machine: no terminal or boot log from here.' : '');
}

function renderTimeline(s: PanelState): void {
  const list = $('timeline');
  list.replaceChildren(
    ...s.timeline.map((t) => {
      const li = document.createElement('li');
      li.dataset.state = t.state;
      const mark = t.state === 'active' ? document.createElement('vscode-progress-ring') : document.createElement('span');
      mark.className = 'mark';
      if (t.state !== 'active') mark.textContent = t.state === 'done' ? '✓' : '✗';
      const time = document.createElement('time');
      time.dateTime = t.at;
      time.textContent = new Date(t.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
      const label = document.createElement('span');
      label.className = 'label';
      label.textContent = t.label;
      li.append(mark, time, label);
      if (t.detail) {
        const detail = document.createElement('span');
        detail.className = 'detail';
        detail.textContent = t.detail;
        li.append(detail);
      }
      return li;
    }),
  );
  $('no-stages').hidden = s.timeline.length > 0;
}

function renderDeploys(s: PanelState): void {
  const deploys = (s.deploys ?? []).slice().reverse();
  const kib = (n: number | undefined): string => (n === undefined ? '?' : n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`);
  $('deploys').replaceChildren(
    ...deploys.map((d) => {
      const li = document.createElement('li');
      li.dataset.outcome = d.outcome;
      const time = new Date(d.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
      li.textContent = `${time} ${d.outcome} ${d.storePath} · sent ${kib(d.uploadedBytes)} · fetched ${kib(d.fetchedBytes)}${d.reason ? ` · ${d.reason}` : ''}`;
      return li;
    }),
  );
  $('no-deploys').hidden = deploys.length > 0;
}

function appendLog(lines: string[], reset: boolean): void {
  const pre = $('log');
  const follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  if (reset) {
    pre.replaceChildren();
    logLines.length = 0;
  }
  for (const line of lines) {
    const node = document.createTextNode(`${line}\n`);
    pre.append(node);
    logLines.push(node);
  }
  const extra = logLines.length - LOG_TAIL;
  if (extra > 0) for (const n of logLines.splice(0, extra)) n.remove();
  $('no-log').hidden = logLines.length > 0;
  if (follow) pre.scrollTop = pre.scrollHeight;
}

let reportTimer: ReturnType<typeof setTimeout> | undefined;
/** Tells the extension what is on screen (its integration test reads it back). */
function report(): void {
  clearTimeout(reportTimer);
  reportTimer = setTimeout(() => {
    const buttons = [...document.querySelectorAll<HTMLElement & { disabled: boolean }>('vscode-button[data-action]')]
      .filter((b) => !b.disabled)
      .map((b) => b.textContent?.trim() ?? '');
    vscode.postMessage({
      type: 'rendered',
      report: {
        timeline: [...$('timeline').querySelectorAll('li')].map((li) => `${li.dataset.state}: ${li.querySelector('.label')?.textContent ?? ''}`),
        logLines: logLines.length,
        status: $('status').textContent ?? '',
        cost: $('cost').textContent ?? '',
        countdown: $('countdown').textContent ?? '',
        buttons,
        deploys: [...$('deploys').querySelectorAll('li')].map((li) => li.textContent ?? ''),
      },
    });
  }, 100);
}

window.addEventListener('message', (e: MessageEvent<ToWebview>) => {
  const msg = e.data;
  if (msg.type === 'state') {
    state = msg.state;
    renderFacts(state);
    renderButtons(state);
    renderTimeline(state);
    renderDeploys(state);
  } else if (msg.type === 'log') {
    appendLog(msg.lines, msg.reset);
  }
  report();
});

for (const b of document.querySelectorAll<HTMLElement>('vscode-button[data-action]')) {
  b.addEventListener('click', () => {
    if ((b as HTMLElement & { disabled: boolean }).disabled) return;
    vscode.postMessage({ type: 'action', action: b.dataset.action as PanelAction });
  });
}

setInterval(tick, 1000);
vscode.postMessage({ type: 'ready' });
