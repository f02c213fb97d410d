// What the machine panel shows, and the messages between the extension and its webview. Pure and vscode-free:
// the run command, the panel and the webview bundle (media/panel/panel.ts) all import it, and unit tests pin it.
// The timeline merges the run's own stages (build … ready) with the boot agent's stage lines, each stamped when it
// happened; the log is a bounded tail.

import type { Machine } from '../providers/types';
import type { RunEvent } from '../run/types';
import { STAGE_TITLES, describeStage } from '../run/stages';
import { describeAgentEvent, parseAgentLine, type AgentEvent } from '../agent/log';
import type { DeployEvent } from '../deploy/types';
import type { DeployRecord } from '../deploy/history';
import { parseDeployLine } from '../deploy/log';

export type RunStatus = 'running' | 'ready' | 'failed' | 'cancelled' | 'idle';

export interface TimelineEntry {
  /** `run:<stage>` or `agent:<stage>`: a repeated agent stage (fetch x/y) updates its entry in place. */
  key: string;
  label: string;
  detail: string | undefined;
  /** ISO time the stage started. */
  at: string;
  state: 'active' | 'done' | 'failed';
}

/** The machine fields the panel needs (cost, countdown, address), as plain JSON for the webview. */
export type PanelMachine = Pick<
  Machine,
  'provider' | 'id' | 'name' | 'status' | 'ipv4' | 'ipv6' | 'region' | 'size' | 'pricePerHour' | 'currency' | 'createdAt' | 'deadline' | 'toplevel' | 'runId'
>;

export interface PanelState {
  title: string;
  runId: string | undefined;
  machine: PanelMachine | undefined;
  /** The machine was listed once and is gone now. */
  gone: boolean;
  /** The provider's clock minus the local clock: the webview counts down on the provider's time. */
  serverOffsetMs: number;
  status: RunStatus;
  /** Why the run failed or stopped, or what the log stream is doing. */
  message: string | undefined;
  timeline: TimelineEntry[];
  /** SSH is possible from here (this computer holds the machine's keys). */
  hasKeys: boolean;
  /** The whole store path the machine runs, when this window knows it (the cloud keeps only its hash). */
  storePath: string | undefined;
  /** Deploys to this machine from this computer, oldest first (optional: older panels' states lack it). */
  deploys?: DeployRecord[];
  /** Deploy on save targets this machine. */
  deployOnSave?: boolean;
}

/** Extension → webview. */
export type ToWebview = { type: 'state'; state: PanelState } | { type: 'log'; lines: string[]; reset: boolean };

export const PANEL_ACTIONS = ['openTerminal', 'extend', 'destroy', 'showBootLog', 'deploy', 'toggleDeployOnSave'] as const;
export type PanelAction = (typeof PANEL_ACTIONS)[number];

/** What the webview rendered, read back by the integration tests (and nothing else). */
export interface RenderedReport {
  timeline: string[];
  logLines: number;
  status: string;
  cost: string;
  countdown: string;
  buttons: string[];
  /** The deploy history rows as shown. */
  deploys?: string[];
}

/** Webview → extension. */
export type FromWebview = { type: 'ready' } | { type: 'action'; action: PanelAction } | { type: 'rendered'; report: RenderedReport };

/**
 * A message from the webview as the type it claims to be, or undefined. The webview's page posts whatever it likes
 * (a stale script, a bug, injected content), so nothing of it is read before its shape is checked: an action must be
 * one of PANEL_ACTIONS, not merely a key the command table inherits (`constructor`, `toString`).
 */
export function parseFromWebview(m: unknown): FromWebview | undefined {
  if (!m || typeof m !== 'object') return undefined;
  const o = m as Record<string, unknown>;
  if (o.type === 'ready') return { type: 'ready' };
  if (o.type === 'action') {
    const action = PANEL_ACTIONS.find((a) => a === o.action);
    return action ? { type: 'action', action } : undefined;
  }
  if (o.type === 'rendered' && isRenderedReport(o.report)) return { type: 'rendered', report: o.report };
  return undefined;
}

function isRenderedReport(r: unknown): r is RenderedReport {
  if (!r || typeof r !== 'object') return false;
  const o = r as Record<string, unknown>;
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  return (
    strings(o.timeline) &&
    typeof o.logLines === 'number' &&
    typeof o.status === 'string' &&
    typeof o.cost === 'string' &&
    typeof o.countdown === 'string' &&
    strings(o.buttons) &&
    (o.deploys === undefined || strings(o.deploys))
  );
}

export const LOG_TAIL = 1000;

/** One line for a progress notification. */
export function stageMessage(e: Extract<RunEvent, { type: 'stage' }>): string {
  return describeStage(e.stage, e.detail);
}

export function toPanelMachine(m: Machine): PanelMachine {
  const { provider, id, name, status, ipv4, ipv6, region, size, pricePerHour, currency, createdAt, deadline, toplevel, runId } = m;
  return { provider, id, name, status, ipv4, ipv6, region, size, pricePerHour, currency, createdAt, deadline, toplevel, runId };
}

export function initialState(title: string, runId?: string): PanelState {
  return { title, runId, machine: undefined, gone: false, serverOffsetMs: 0, status: 'idle', message: undefined, timeline: [], hasKeys: false, storePath: undefined };
}

/**
 * The state of one panel plus its log tail, fed by run events or by a boot-log stream. Listeners hear about every
 * change; the panel throttles what it posts.
 */
export class PanelModel {
  state: PanelState;
  readonly log: string[] = [];
  /** Lines appended since the last takeNewLines(). */
  private fresh: string[] = [];
  private resetLog = false;
  private readonly listeners = new Set<() => void>();

  constructor(title: string, runId?: string) {
    this.state = initialState(title, runId);
  }

  onDidChange(l: () => void): { dispose(): void } {
    this.listeners.add(l);
    return { dispose: () => this.listeners.delete(l) };
  }

  update(patch: Partial<PanelState>): void {
    this.state = { ...this.state, ...patch };
    this.fire();
  }

  /** A run's event: stages, log lines (agent stage lines among them), the machine. */
  apply(e: RunEvent): void {
    switch (e.type) {
      case 'stage':
        // Cleanup only follows a failure or a cancel: the stage it interrupts did not succeed.
        this.enter(`run:${e.stage}`, STAGE_TITLES[e.stage], e.detail, e.at, e.stage === 'ready', e.stage === 'cleanup' ? 'failed' : 'done');
        if (e.stage === 'cleanup') this.update({ message: 'Destroying the machine…' });
        return;
      case 'log':
        this.line(e.line);
        return;
      case 'progress':
        return this.update({ message: e.message });
      case 'machine':
        return this.update({ machine: toPanelMachine(e.machine), title: e.machine.name });
    }
  }

  /** A deploy's event: its stages on the timeline, the machine's deploy log in the log (not read as boot stages). */
  applyDeploy(e: DeployEvent): void {
    switch (e.type) {
      case 'stage':
        this.enter(`deploy:${e.stage}`, `Deploy: ${e.stage}`, e.detail, e.at, e.stage === 'done');
        return;
      case 'log': {
        this.line(e.line, new Date(), false);
        const l = parseDeployLine(e.line);
        if (l?.stage === 'armed') this.enter('deploy:armed', 'Deploy: switched; waiting for the confirmation', l.wait, new Date(), false);
        if (l?.stage === 'rolled-back' || l?.stage === 'failed') this.enter(`deploy:${l.stage}`, `Deploy: ${l.stage}`, l.message, new Date(), false, 'failed');
        return;
      }
      case 'progress':
        this.update({ message: e.message });
        return;
    }
  }

  /** A line of the boot log; a stage line of the agent also lands on the timeline (unless `stages` is false). */
  line(line: string, at = new Date(), stages = true): AgentEvent | undefined {
    this.log.push(line);
    this.fresh.push(line);
    if (this.log.length > LOG_TAIL) this.log.splice(0, this.log.length - LOG_TAIL);
    if (this.fresh.length > LOG_TAIL) this.fresh.splice(0, this.fresh.length - LOG_TAIL);
    const ev = stages ? parseAgentLine(line) : undefined;
    if (ev) this.agent(ev, at);
    else this.fire();
    return ev;
  }

  clearLog(): void {
    this.log.length = 0;
    this.fresh = [];
    this.resetLog = true;
    this.fire();
  }

  /** Ends the run: the active stage is marked done (ready) or failed (failed, cancelled). */
  finish(status: Exclude<RunStatus, 'running' | 'idle'>, message?: string): void {
    const ended = (t: TimelineEntry): TimelineEntry['state'] => (status === 'ready' || t.key === 'run:cleanup' ? 'done' : 'failed');
    const timeline = this.state.timeline.map((t) => (t.state === 'active' ? { ...t, state: ended(t) } : t));
    this.update({ status, message, timeline });
  }

  /** New lines since last asked, and whether the webview must drop what it has first. */
  takeNewLines(): { lines: string[]; reset: boolean } {
    const out = { lines: this.fresh, reset: this.resetLog };
    this.fresh = [];
    this.resetLog = false;
    return out;
  }

  private agent(ev: AgentEvent, at: Date): void {
    const name = ev.stage === 'other' ? ev.name : ev.stage;
    const label = `Agent: ${describeAgentEvent(ev)}`;
    if (ev.stage === 'failed') {
      this.enter(`agent:${name}`, label, ev.path, at, false, 'failed');
      this.finishActive('failed');
      return;
    }
    this.enter(`agent:${name}`, label, undefined, at, ev.stage === 'done');
  }

  /** Starts a stage (or refreshes the latest one, fetch x/y); the previous active one ends as `previous`. */
  private enter(key: string, label: string, detail: string | undefined, at: Date, final: boolean, previous: 'done' | 'failed' = 'done'): void {
    const timeline = this.state.timeline.slice();
    const existing = timeline.findIndex((t) => t.key === key);
    if (existing >= 0 && existing === timeline.length - 1) {
      timeline[existing] = { ...timeline[existing]!, label, detail, state: final ? 'done' : 'active' };
    } else {
      for (let i = 0; i < timeline.length; i++) if (timeline[i]!.state === 'active') timeline[i] = { ...timeline[i]!, state: previous };
      timeline.push({ key, label, detail, at: at.toISOString(), state: final ? 'done' : 'active' });
    }
    this.update({ timeline, ...(this.state.status === 'idle' && key.startsWith('run:') ? { status: 'running' as const } : {}) });
  }

  private finishActive(state: 'done' | 'failed'): void {
    this.update({ timeline: this.state.timeline.map((t) => (t.state === 'active' ? { ...t, state } : t)) });
  }

  private fire(): void {
    for (const l of [...this.listeners]) l();
  }
}
