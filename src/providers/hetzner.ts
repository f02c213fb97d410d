// Hetzner Cloud through a small typed client: openapi-fetch over types generated from Hetzner's official OpenAPI
// spec (scripts/gen-hetzner-types.mjs). Not hcloud-js: unmaintained since 2021, untyped, bundles axios 0.21.4 and
// throws on IPv6-only servers (`public_net.ipv4: null`), which this client handles as a normal case.
// Machines are servers labelled `thebacknd`; run id, deadline and toplevel are labels too (see tags.ts).

import { ipv4Literal, ipv6Literal } from './ip';
import createClient from 'openapi-fetch';
import { ProviderBase, type Listing } from './base';
import type { operations, paths } from './hetzner/schema';
import { apiBase, type ProviderOptions } from './options';
import { hetznerCall, type Answer } from './hetzner-call';
import { hetznerCreateProblem } from './hetzner-image-support';
import { UserError } from '../base/errors';
import { ApiError, withRetry } from './retry';
import { hetznerStatus } from './status';
import { HETZNER_SELECTOR, LABEL_DEADLINE, formatDeadline, hetznerLabels, hetznerRunSelector, readHetznerLabels } from './tags';
import type { CreateRequest, Image, Machine, Region, Size } from './types';
import { PROJECT_KEY_NAME, ProjectKey } from './project-key';

export { PROJECT_KEY_NAME };

type Json<Op extends keyof operations, Code extends 200 | 201> = operations[Op]['responses'] extends Record<Code, { content: { 'application/json': infer B } }> ? B : never;
type Server = Json<'list_servers', 200>['servers'][number];
interface Pagination {
  meta?: { pagination?: { next_page?: number | null; last_page?: number | null } };
}

/** Pages fetched at once once the first page has told how many there are. */
const PAGE_CONCURRENCY = 8;

export class HetznerProvider extends ProviderBase<Server> {
  readonly id = 'hetzner' as const;
  private readonly api: ReturnType<typeof createClient<paths>>;
  private readonly pageSize: number;

  private readonly projectKey: ProjectKey;

  constructor(opts: ProviderOptions) {
    super(opts, apiBase(opts.endpoint, 'https://api.hetzner.cloud', 'v1'));
    this.pageSize = Math.min(50, Math.max(1, opts.pageSize ?? 50));
    this.api = createClient<paths>({
      baseUrl: this.endpoint,
      headers: { Authorization: `Bearer ${opts.token}` },
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
    this.projectKey = new ProjectKey(
      {
        find: async (signal) => {
          const { data } = await this.retrying((sig) => this.api.GET('/ssh_keys', { signal: sig, params: { query: { name: PROJECT_KEY_NAME } } }), signal);
          const k = data.ssh_keys.find((x) => x.name === PROJECT_KEY_NAME);
          return k && String(k.id);
        },
        make: async (publicKey, signal) => {
          const { data } = await this.call((sig) => this.api.POST('/ssh_keys', { signal: sig, body: { name: PROJECT_KEY_NAME, public_key: publicKey } }), signal);
          return String(data.ssh_key.id);
        },
      },
      this.retry,
    );
  }

  /**
   * Refused before any API call when the base image cannot boot there (Arm types, IPv6-only); then always with an
   * SSH key: the caller's (`sshKeys`, the user asked for account keys), else the project key.
   */
  override async create(req: CreateRequest, signal?: AbortSignal): Promise<Machine> {
    const problem = hetznerCreateProblem(req);
    if (problem) throw new UserError(problem);
    if (req.sshKeys?.length) return super.create(req, signal);
    const key = await this.guard(() => this.projectKey.get(signal), signal);
    return super.create({ ...req, sshKeys: [key] }, signal);
  }

  /** The project key, looked up (or made) ahead of the create it is needed by. */
  prepareCreate(signal?: AbortSignal): Promise<void> {
    return this.guard(async () => void (await this.projectKey.get(signal)), signal);
  }

  /** One PUT with the full label set: the deadline changes atomically. */
  async setDeadline(id: string, deadline: Date, signal?: AbortSignal): Promise<void> {
    return this.guard(async () => {
      const s = (await this.owned(id, true, signal))!;
      const labels = { ...s.labels, [LABEL_DEADLINE]: formatDeadline(deadline) };
      await this.retrying((sig) => this.api.PUT('/servers/{id}', { signal: sig, params: { path: { id: s.id } }, body: { labels } }), signal);
    }, signal);
  }

  async powerOff(id: string, signal?: AbortSignal): Promise<void> {
    return this.guard(async () => {
      const s = await this.owned(id, false, signal);
      if (!s) return;
      await this.retrying((sig) => this.api.POST('/servers/{id}/actions/poweroff', { signal: sig, params: { path: { id: s.id } } }), signal);
    }, signal);
  }

  async regions(signal?: AbortSignal): Promise<Region[]> {
    return this.guard(async () => {
      const { items } = await this.pages(
        (page, sig) => this.api.GET('/locations', { signal: sig, params: { query: { page, per_page: this.pageSize } } }),
        (d) => d.locations,
        signal,
      );
      return items.map((l) => ({ slug: l.name, name: `${l.city}, ${l.country}`, available: true }));
    }, signal);
  }

  async sizes(signal?: AbortSignal): Promise<Size[]> {
    return this.guard(async () => {
      const { items } = await this.pages(
        (page, sig) => this.api.GET('/server_types', { signal: sig, params: { query: { page, per_page: this.pageSize } } }),
        (d) => d.server_types,
        signal,
      );
      return (
        items
          // Arm types are left out: the base image is x86-64 only (see hetzner-image-support.ts), so a picker never offers them.
          .filter((t) => !t.deprecated && t.architecture !== 'arm')
          .map((t) => {
            const pricesByRegion = Object.fromEntries(t.prices.map((p) => [p.location, Number(p.price_hourly.net)]));
            const available = (t.locations ?? []).filter((l) => l.available !== false).map((l) => l.name);
            const regions = available.length ? available : Object.keys(pricesByRegion);
            const prices = regions.map((r) => pricesByRegion[r]).filter((p): p is number => Number.isFinite(p));
            return {
              slug: t.name,
              cpus: t.cores,
              memoryGiB: t.memory,
              diskGiB: t.disk,
              pricePerHour: prices.length ? Math.min(...prices) : NaN,
              currency: 'EUR' as const,
              regions,
              pricesByRegion,
            };
          })
      );
    }, signal);
  }

  async images(signal?: AbortSignal): Promise<Image[]> {
    return this.guard(async () => {
      const { items } = await this.pages(
        (page, sig) => this.api.GET('/images', { signal: sig, params: { query: { page, per_page: this.pageSize, type: ['system', 'snapshot'] } } }),
        (d) => d.images,
        signal,
      );
      return items.map((i) => ({
        // System images are created by name, snapshots by id.
        id: i.type === 'system' && i.name ? i.name : String(i.id),
        name: i.description || i.name || String(i.id),
        kind: i.type === 'system' ? 'distribution' : i.type === 'snapshot' ? 'snapshot' : 'other',
        status: i.status,
      }));
    }, signal);
  }

  // --- the primitives ProviderBase builds on ---

  protected listRaw(runId: string | undefined, signal?: AbortSignal): Promise<Listing<Server>> {
    const selector = runId ? hetznerRunSelector(runId) : HETZNER_SELECTOR;
    return this.pages(
      (page, sig) => this.api.GET('/servers', { signal: sig, params: { query: { label_selector: selector, page, per_page: this.pageSize } } }),
      (d) => d.servers,
      signal,
    );
  }

  protected async getRaw(id: string, signal?: AbortSignal): Promise<Server | undefined> {
    if (!/^\d+$/.test(id)) return undefined;
    try {
      const { data } = await this.retrying((sig) => this.api.GET('/servers/{id}', { signal: sig, params: { path: { id: Number(id) } } }), signal);
      return data.server;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  protected async deleteRaw(s: Server, signal?: AbortSignal): Promise<void> {
    await this.retrying((sig) => this.api.DELETE('/servers/{id}', { signal: sig, params: { path: { id: s.id } } }), signal);
  }

  protected nameOf(s: Server): string {
    return s.name;
  }

  protected async postCreate(req: CreateRequest, name: string, runId: string, signal?: AbortSignal): Promise<Machine> {
    const { data } = await this.call(
      (sig) =>
        this.api.POST('/servers', {
          signal: sig,
          body: {
            name,
            location: req.region,
            server_type: req.size,
            image: req.image,
            labels: hetznerLabels(runId, req.deadline, req.toplevel),
            user_data: req.userData,
            start_after_create: true,
            public_net: { enable_ipv4: req.ipv4 !== false, enable_ipv6: true },
            ...(req.sshKeys?.length ? { ssh_keys: req.sshKeys } : {}),
          },
        }),
      signal,
    );
    return this.toMachine(data.server);
  }

  /** Names are unique per project: a taken one is a 409 uniqueness_error. */
  protected isNameClash(e: ApiError): boolean {
    return e.status === 409 && e.code === 'uniqueness_error';
  }

  protected toMachine(s: Server): Machine {
    const marks = readHetznerLabels(s.labels);
    // Newer answers carry `location`; older ones only `datacenter.location`.
    const region = (s as { location?: { name?: string } }).location?.name ?? s.datacenter?.location?.name ?? '';
    const price = s.server_type?.prices?.find((p) => p.location === region)?.price_hourly?.net;
    return {
      id: String(s.id),
      provider: 'hetzner',
      name: s.name,
      runId: marks.runId,
      status: hetznerStatus(s.status),
      ipv4: ipv4Literal(s.public_net?.ipv4?.ip),
      ipv6: ipv6Literal(hostAddress(s.public_net?.ipv6?.ip)),
      region,
      size: s.server_type?.name ?? '',
      pricePerHour: price !== undefined && Number.isFinite(Number(price)) ? Number(price) : undefined,
      currency: 'EUR',
      createdAt: s.created,
      deadline: marks.deadline,
      toplevel: marks.toplevel,
      tagged: marks.tagged,
    };
  }

  private async pages<D extends Pagination, T extends { id: number }>(
    fetchPage: (page: number, signal: AbortSignal) => Promise<Answer<D>>,
    pick: (d: D) => T[],
    signal?: AbortSignal,
  ): Promise<Listing<T>> {
    const seen = new Map<number, T>();
    let headers: Record<string, string> = {};
    const take = (res: { data: D; headers: Record<string, string> }): T[] => {
      const batch = pick(res.data) ?? [];
      for (const item of batch) seen.set(item.id, item);
      return batch;
    };
    const first = await this.retrying((sig) => fetchPage(1, sig), signal);
    headers = first.headers;
    const firstBatch = take(first);
    const meta = first.data.meta?.pagination;
    const last = meta?.last_page;
    if (meta?.next_page === 2 && firstBatch.length > 0 && typeof last === 'number' && last >= 2 && last <= 10_000) {
      // The first page says how many there are: the rest come at once (1,000 servers are 20 pages of 50), a few at
      // a time so that one refresh never bursts through the rate limit.
      let nextPage = 2;
      const worker = async () => {
        while (nextPage <= last) {
          const page = nextPage++;
          try {
            const res = await this.retrying((sig) => fetchPage(page, sig), signal);
            take(res);
            if (page === last) headers = res.headers;
          } catch (err) {
            nextPage = last + 1; // the other workers stop after their current page
            throw err;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(PAGE_CONCURRENCY, last - 1) }, worker));
      return { items: [...seen.values()], headers };
    }
    // No page count (an older API, a proxy): follow next_page one page at a time.
    for (let page = 1, batch = firstBatch, res = first; page < 10_000;) {
      const next = res.data.meta?.pagination?.next_page;
      if (!next || next <= page || batch.length === 0) break;
      page = next;
      res = await this.retrying((sig) => fetchPage(page, sig), signal);
      headers = res.headers;
      batch = take(res);
    }
    return { items: [...seen.values()], headers };
  }

  private retrying<D>(fn: (signal: AbortSignal) => Promise<Answer<D>>, signal?: AbortSignal) {
    return withRetry(() => this.call(fn, signal), this.retry, signal);
  }

  /** One request with its own timeout; any failure as an ApiError, the caller's abort passed through. */
  private call<D>(fn: (signal: AbortSignal) => Promise<Answer<D>>, signal?: AbortSignal): Promise<{ data: D; headers: Record<string, string> }> {
    return hetznerCall(fn, this.retry.timeoutMs, signal);
  }
}

/** Hetzner gives the server a /64 (`2001:db8:1:2::/64`); the server itself answers on `::1` of it. */
export function hostAddress(net: string | undefined | null): string | undefined {
  if (!net) return undefined;
  const [addr, prefix] = net.split('/');
  if (!prefix) return addr;
  if (addr!.endsWith('::')) return `${addr}1`;
  return addr!.replace(/:0$/, ':1');
}
