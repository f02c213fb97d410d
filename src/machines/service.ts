// The machines the user pays for, as every view sees them. vscode-free: the tree, the status bar, the reaper and
// the commands all read one snapshot and act through here, so that
//   - each refresh makes exactly one list call per provider, whoever asked for it;
//   - an action shows at once (optimistic state) and is reconciled by the next list;
//   - ages and deadlines are measured on the provider's clock (ListResult.serverTime), not the local one.
// Provider clients are created on first use from the tokens and settings, and re-created when either changes.

import type { CloudProvider, ListResult, Machine, MachineStatus, ProviderId } from '../providers/types';
import type { Settings } from '../base/settings';
import { PROVIDERS } from '../base/tokens';
import { ServerClock } from './server-clock';
import { messageOf, UserError } from '../base/errors';
import { extendedDeadline } from './deadline';

export type ProviderFactory = (id: ProviderId, opts: { token: string; endpoint?: string }) => CloudProvider | Promise<CloudProvider>;

export interface TokenLookup {
  get(p: ProviderId): Promise<{ token: string; source: string } | undefined>;
}

export interface ProviderError {
  message: string;
  /** The token was rejected (401/403): the fix is a new token, not a retry. */
  auth: boolean;
  /** The token command failed: no list was tried; Refresh runs the command again. */
  tokenCommand?: boolean;
}

export interface ProviderSnapshot {
  id: ProviderId;
  /** Where the token comes from; undefined when there is none. */
  tokenSource: string | undefined;
  /** The API base URL override; empty for the real cloud. */
  endpoint: string;
  /** The endpoint is on this machine (the local emulator). */
  local: boolean;
  /** A list has answered since the provider was configured. */
  loaded: boolean;
  /** The latest list's machines with our pending actions applied. */
  machines: Machine[];
  /** Why the latest list failed; the machines are then those of the last good list. */
  error: ProviderError | undefined;
  /** Server time minus local time, in milliseconds. */
  clockOffsetMs: number;
}

interface Pending {
  status?: MachineStatus;
  deadline?: string;
  /** Local time after which the overlay is dropped even if no list confirmed it. */
  until: number;
}

interface ProviderEntry {
  id: ProviderId;
  tokenSource: string | undefined;
  endpoint: string;
  /** What the client was built from; a change rebuilds it. The token itself stays in memory only. */
  key: string;
  client: Promise<CloudProvider> | undefined;
  token: string | undefined;
  /** Why the token command gave no token (then `token` is undefined). */
  tokenError?: ProviderError;
  raw: ListResult | undefined;
  /** Local time the latest list answered (the reaper policy measures elapsed time from it). */
  listedAt: number;
  error: ProviderError | undefined;
  clock: ServerClock;
}

const DESTROY_OVERLAY_MS = 5 * 60_000;
const DEADLINE_OVERLAY_MS = 2 * 60_000;

export class MachineService {
  private entries: ProviderEntry[] = [];
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<() => void>();
  private inflight: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private configured: Promise<void> | undefined;
  private failureCount = 0;

  constructor(
    private readonly deps: {
      tokens: TokenLookup;
      settings: () => Settings;
      createProvider: ProviderFactory;
      /** Local clock, injectable for tests. */
      now?: () => number;
    },
  ) {}

  private localNow(): number {
    return (this.deps.now ?? Date.now)();
  }

  onDidChange(listener: () => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  private fire(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Re-reads tokens and settings; providers whose token or endpoint changed get a fresh client and list. */
  reconfigure(): Promise<void> {
    const run = this.readConfig();
    this.configured = run;
    return run.then(() => this.refresh());
  }

  private async readConfig(): Promise<void> {
    const settings = this.deps.settings();
    const next: ProviderEntry[] = [];
    for (const id of PROVIDERS) {
      let t: { token: string; source: string } | undefined;
      let tokenError: ProviderError | undefined;
      try {
        t = await this.deps.tokens.get(id);
      } catch (err) {
        // A token command that failed: the provider shows why (the message names no output) instead of its machines.
        tokenError = { message: messageOf(err), auth: false, tokenCommand: true };
      }
      const endpoint = settings[id].endpoint.trim();
      if (!t && !endpoint && !tokenError) continue;
      const key = `${t?.token ?? ''}\n${endpoint}`;
      const old = this.entries.find((e) => e.id === id);
      if (old && old.key === key && !tokenError) {
        old.tokenSource = t?.source;
        next.push(old);
        continue;
      }
      next.push({
        id,
        tokenSource: tokenError ? 'token command' : t?.source,
        endpoint,
        key,
        client: undefined,
        token: t?.token,
        tokenError,
        raw: undefined,
        listedAt: 0,
        error: tokenError,
        clock: new ServerClock(this.deps.now),
      });
    }
    this.entries = next;
    for (const k of this.pending.keys()) if (!next.some((e) => k.startsWith(`${e.id}:`))) this.pending.delete(k);
    this.fire();
  }

  private async ready(): Promise<void> {
    if (!this.configured) this.configured = this.readConfig();
    await this.configured;
  }

  /** Providers to show: those with a token, and those pointed at an endpoint (which then say the token is missing). */
  snapshot(): ProviderSnapshot[] {
    return this.entries.map((e) => ({
      id: e.id,
      tokenSource: e.tokenSource,
      endpoint: e.endpoint,
      local: isLocal(e.endpoint),
      loaded: e.raw !== undefined,
      machines: (e.raw?.machines ?? []).map((m) => this.overlay(m)),
      error: e.error,
      clockOffsetMs: e.clock.offset,
    }));
  }

  /** Every known machine across providers, pending actions applied. */
  machines(): Machine[] {
    return this.snapshot().flatMap((p) => p.machines);
  }

  /** The latest list of one provider as it answered, without our overlay (the reaper's input). */
  lastList(id: ProviderId): { result: ListResult; listedAt: number } | undefined {
    const e = this.entries.find((x) => x.id === id);
    return e?.raw ? { result: e.raw, listedAt: e.listedAt } : undefined;
  }

  /** Providers whose latest list failed. */
  failedProviders(): ProviderId[] {
    return this.entries.filter((e) => e.error).map((e) => e.id);
  }

  /** The provider's current time in milliseconds (the local clock corrected by the last Date seen). */
  serverNow(id: ProviderId): number {
    return this.entries.find((e) => e.id === id)?.clock.now() ?? this.localNow();
  }

  /** Local time of the latest list answer from any provider; 0 before the first. */
  get listedAt(): number {
    return Math.max(0, ...this.entries.map((e) => e.listedAt));
  }

  /** Consecutive refreshes in which some provider failed. */
  get failures(): number {
    return this.failureCount;
  }

  /** Something is changing: a machine being created or destroyed, or an action waiting for a list to confirm it. */
  inTransition(): boolean {
    if (this.pending.size > 0) return true;
    return this.machines().some((m) => m.status === 'creating' || m.status === 'destroying');
  }

  /**
   * Lists every provider once. Concurrent callers share the list in flight; a caller arriving during one gets the
   * next, so that what it sees started after its call (an action's result is never hidden by an older list),
   * unless it asks to join the one in flight, or accepts a list answered within `maxAgeMs`.
   */
  refresh(opts: { join?: boolean; maxAgeMs?: number } = {}): Promise<void> {
    if (opts.maxAgeMs !== undefined && this.freshWithin(opts.maxAgeMs)) return Promise.resolve();
    if (!this.inflight) return this.start();
    // `join`: a list already under way is recent enough (the reaper at activation, next to the first list).
    if (opts.join) return this.inflight;
    this.queued ??= this.inflight.then(() => {
      this.queued = undefined;
      return this.start();
    });
    return this.queued;
  }

  /** Every provider with a token answered its latest list within `ms` (and there is at least one). */
  private freshWithin(ms: number): boolean {
    const withToken = this.entries.filter((e) => e.token);
    const now = this.localNow();
    return withToken.length > 0 && withToken.every((e) => e.raw && !e.error && now - e.listedAt <= ms);
  }

  private start(): Promise<void> {
    const run = this.listAll().finally(() => {
      if (this.inflight === run) this.inflight = undefined;
    });
    this.inflight = run;
    return run;
  }

  private async listAll(): Promise<void> {
    // After a failed list the retry reads settings and tokens again: a change whose event this window did not get
    // (an endpoint that arrived after activation, say) is used instead of failing the same way until a restart.
    if (this.failureCount > 0) this.configured = this.readConfig();
    await this.ready();
    const entries = this.entries;
    await Promise.all(entries.map((e) => this.listOne(e)));
    // A missing token is a state to show, not a failure to back off from.
    this.failureCount = entries.some((e) => e.token && e.error) ? this.failureCount + 1 : 0;
    this.fire();
  }

  private async listOne(e: ProviderEntry): Promise<void> {
    if (!e.token) {
      e.error = e.tokenError ?? { message: 'No token is set.', auth: true };
      return;
    }
    try {
      const client = await this.client(e);
      const result = await client.list();
      e.listedAt = this.localNow();
      e.clock.observe(result.serverTime, e.listedAt);
      e.raw = result;
      e.error = undefined;
      this.reconcile(e.id, result.machines);
    } catch (err) {
      e.error = { message: messageOf(err, [e.token]), auth: isAuthError(err) };
    }
  }

  private client(e: ProviderEntry): Promise<CloudProvider> {
    const token = e.token;
    if (!token) return Promise.reject(new UserError(e.tokenError?.message ?? `No ${e.id} token is set.`, { kind: 'setToken', provider: e.id }));
    if (!e.client) {
      const opts = e.endpoint ? { token, endpoint: e.endpoint } : { token };
      const made = (async () => this.deps.createProvider(e.id, opts))();
      // A failed construction (a bad endpoint URL) is retried on the next use rather than cached forever.
      made.catch(() => {
        if (e.client === made) e.client = undefined;
      });
      e.client = made;
    }
    return e.client;
  }

  /** The client of one provider, for actions beyond this service (the caller handles its errors). */
  async provider(id: ProviderId): Promise<CloudProvider> {
    await this.ready();
    const e = this.entries.find((x) => x.id === id);
    if (!e) throw new UserError(`No ${id} token is set.`, { kind: 'setToken', provider: id });
    return this.client(e);
  }

  /** Destroys one machine; the views show it as destroying at once, and a later list removes it. */
  async destroy(m: Machine): Promise<void> {
    const k = keyOf(m);
    const before = this.pending.get(k);
    this.pending.set(k, { ...before, status: 'destroying', until: this.localNow() + DESTROY_OVERLAY_MS });
    this.fire();
    try {
      await (await this.provider(m.provider)).destroy(m.id);
    } catch (err) {
      if (before) this.pending.set(k, before);
      else this.pending.delete(k);
      this.fire();
      throw err;
    }
  }

  /**
   * Moves a machine's deadline to max(now, deadline) + minutes, on the provider's clock (never past the lifetime
   * cap: see ./deadline), and stores it on the machine. Returns the new deadline.
   */
  async extend(m: Machine, minutes: number): Promise<Date> {
    if (!(minutes > 0)) throw new UserError('Extend needs a positive number of minutes.');
    const deadline = extendedDeadline(m, this.serverNow(m.provider), minutes);
    const k = keyOf(m);
    const before = this.pending.get(k);
    this.pending.set(k, { ...before, deadline: deadline.toISOString(), until: this.localNow() + DEADLINE_OVERLAY_MS });
    this.fire();
    try {
      await (await this.provider(m.provider)).setDeadline(m.id, deadline);
    } catch (err) {
      if (before) this.pending.set(k, before);
      else this.pending.delete(k);
      this.fire();
      throw err;
    }
    return deadline;
  }

  /** The overlay of pending actions on one listed machine. */
  private overlay(m: Machine): Machine {
    const p = this.pending.get(keyOf(m));
    if (!p) return m;
    return { ...m, ...(p.status ? { status: p.status } : {}), ...(p.deadline ? { deadline: p.deadline } : {}) };
  }

  /** Drops the overlays a list has confirmed (or that waited too long to be confirmed). */
  private reconcile(provider: ProviderId, listed: Machine[]): void {
    const now = this.localNow();
    const byKey = new Map(listed.map((m) => [keyOf(m), m]));
    for (const [k, p] of this.pending) {
      if (!k.startsWith(`${provider}:`)) continue;
      const m = byKey.get(k);
      if (!m || now > p.until) {
        this.pending.delete(k);
        continue;
      }
      if (p.status === 'destroying' && m.status === 'destroying') delete p.status;
      if (p.deadline && m.deadline && Date.parse(m.deadline) >= Date.parse(p.deadline)) delete p.deadline;
      if (!p.status && !p.deadline) this.pending.delete(k);
    }
  }
}

export function keyOf(m: Pick<Machine, 'provider' | 'id'>): string {
  return `${m.provider}:${m.id}`;
}

/** 127.0.0.1, ::1, localhost and *.localhost: an emulator, not a cloud. */
export function isLocal(endpoint: string): boolean {
  if (!endpoint) return false;
  try {
    const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\./.test(host);
  } catch {
    return false;
  }
}

function isAuthError(err: unknown): boolean {
  if (err instanceof UserError) return err.fix?.kind === 'setToken';
  const status = (err as { status?: unknown; statusCode?: unknown } | undefined)?.status ?? (err as { statusCode?: unknown } | undefined)?.statusCode;
  return status === 401 || status === 403;
}
