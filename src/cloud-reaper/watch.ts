// What reaps while VS Code is closed, as the Machines view and the status bar show it: the cloud reaper's status
// (deploy.ts's reaperStatus, plus which providers' tokens it holds) and the local timers installed on this computer.
// vscode-free. The status costs several API calls, so it is fetched at most once per reaper period (a failed fetch
// is retried after a minute); a tree refresh only reads the cached snapshot. invalidate() after a deploy, a remove,
// a token change or the Refresh command.

import { messageOf } from '../base/errors';
import { PROVIDERS } from '../base/tokens';
import type { ProviderId } from '../providers/types';
import type { RetryOptions } from '../providers/retry';
// Types only at the top: the extension builds a watch at activation, and the Functions clients (with the cloud
// providers they pull in) load on the first fetch.
import type { ReaperStatus } from './deploy';

export interface LocalTimerInfo {
  kind: 'systemd' | 'launchd';
  everyMinutes: number | undefined;
}

export interface ReaperSnapshot {
  /** Local time the snapshot was taken. */
  fetchedAt: number;
  /** The cloud reaper; undefined without a DigitalOcean token (no Functions to ask). */
  cloud: { status: ReaperStatus; providers: ProviderId[] } | undefined;
  /** Why the cloud reaper's status could not be read (never a token). */
  cloudError: string | undefined;
  local: Partial<Record<ProviderId, LocalTimerInfo>>;
}

/** The providers whose token is bound to the deployed destroy-old (read, compared with '', never kept). */
export async function reapedProviders(o: { digitaloceanToken: string; endpoint?: string; retry?: Partial<RetryOptions> }): Promise<ProviderId[]> {
  const { REAPER_LABEL, REAPER_PACKAGE } = await import('./deploy');
  const { FunctionsApi, OpenWhiskApi } = await import('./functions-api');
  const { PARAM, str } = await import('./params');
  const opts = o.retry ? { retry: o.retry } : {};
  const api = new FunctionsApi(o.digitaloceanToken, o.endpoint, opts);
  const listed = (await api.namespaces()).find((n) => n.label === REAPER_LABEL);
  if (!listed) return [];
  const ns = listed.key && listed.uuid ? listed : ((await api.namespace(listed.namespace)) ?? listed);
  const action = await new OpenWhiskApi(ns, ns.namespace, opts).getAction(`${REAPER_PACKAGE}/destroy-old`);
  const bound = (p: ProviderId) => str(action?.parameters?.find((kv) => kv.key === PARAM.token[p])?.value) !== '';
  return PROVIDERS.filter(bound);
}

export interface ReaperWatchDeps {
  /** The DigitalOcean token and endpoint, or undefined without a token. */
  digitalocean(): Promise<{ token: string; endpoint?: string } | undefined>;
  /** The local timers installed for each provider. */
  localTimers(): Partial<Record<ProviderId, LocalTimerInfo>>;
  /** The reaper period (thebacknd.reapIntervalMinutes), in ms: how long a snapshot is good for. */
  periodMs(): number;
  now?: () => number;
  retry?: Partial<RetryOptions>;
}

export const RETRY_FAILED_MS = 60_000;

export class ReaperWatch {
  private current: ReaperSnapshot | undefined;
  private inflight: Promise<void> | undefined;
  private generation = 0;
  private readonly listeners = new Set<() => void>();
  /** Fetches made (tests check that a tree refresh does not make one). */
  fetches = 0;

  constructor(private readonly deps: ReaperWatchDeps) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  onDidChange(listener: () => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  snapshot(): ReaperSnapshot | undefined {
    return this.current;
  }

  /** Starts a fetch when there is no snapshot, or it is older than one period (a minute after a failure). */
  ensureFresh(): void {
    if (this.inflight) return;
    const s = this.current;
    if (s && this.now() - s.fetchedAt < (s.cloudError ? Math.min(RETRY_FAILED_MS, this.deps.periodMs()) : this.deps.periodMs())) return;
    void this.refresh();
  }

  /** Drops the snapshot's age: the next ensureFresh() fetches (what is shown stays until then). */
  invalidate(): void {
    this.generation++;
    if (this.current) this.current = { ...this.current, fetchedAt: -Infinity };
  }

  /** Fetches now; one fetch at a time (a call during a fetch waits for it, then fetches again if invalidated). */
  async refresh(): Promise<void> {
    while (this.inflight) await this.inflight;
    const generation = this.generation;
    const run = this.fetch().then((s) => {
      // A snapshot fetched before an invalidate() is shown, but stays due for a fetch.
      this.current = generation === this.generation ? s : { ...s, fetchedAt: -Infinity };
      for (const l of [...this.listeners]) l();
    });
    this.inflight = run.finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async fetch(): Promise<ReaperSnapshot> {
    this.fetches++;
    const local = this.deps.localTimers();
    const fetchedAt = this.now();
    let digitalocean: { token: string; endpoint?: string } | undefined;
    try {
      digitalocean = await this.deps.digitalocean();
      if (!digitalocean) return { fetchedAt, cloud: undefined, cloudError: undefined, local };
      const o = { digitaloceanToken: digitalocean.token, ...(digitalocean.endpoint ? { endpoint: digitalocean.endpoint } : {}) };
      const cloud = await this.cloudStatus(o);
      return { fetchedAt, cloud, cloudError: undefined, local };
    } catch (e) {
      return { fetchedAt, cloud: this.current?.cloud, cloudError: messageOf(e, digitalocean ? [digitalocean.token] : []), local };
    }
  }

  private async cloudStatus(o: { digitaloceanToken: string; endpoint?: string }): Promise<{ status: ReaperStatus; providers: ProviderId[] }> {
    const retry = this.deps.retry ? { retry: this.deps.retry } : {};
    const { reaperStatus } = await import('./deploy');
    const status = await reaperStatus({ digitaloceanToken: o.digitaloceanToken, ...(o.endpoint ? { endpoints: { digitalocean: o.endpoint } } : {}), limit: 5, ...retry });
    const providers = status.namespace ? await reapedProviders({ ...o, ...retry }) : [];
    return { status, providers };
  }
}
