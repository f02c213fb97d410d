// DigitalOcean through dots-wrapper (typed, maintained; its `endpoint` option points it at the emulator).
// Machines are droplets tagged `thebacknd`; run id, deadline and toplevel are tags too (see tags.ts).

import { ipv4Literal, ipv6Literal } from './ip';
import type { createApiClient } from 'dots-wrapper';
import type { IDroplet } from 'dots-wrapper/dist/droplet';
import { ProviderBase, goneIsDone, type Listing } from './base';
import { isAuthError, isLimitError } from './errors';
import { smallestFreeName } from './naming';
import { PROJECT_KEY_NAME, ProjectKey } from './project-key';
import { abortable, apiBase, headerRecord, type ProviderOptions } from './options';
import { ApiError, isTransient, withRetry } from './retry';
import { digitalOceanStatus } from './status';
import { DO_DEADLINE, doTags, formatDeadline, readDoTags } from './tags';
import { TAG, type CreateRequest, type Image, type Machine, type Region, type Size } from './types';

type Dots = ReturnType<typeof createApiClient>;
interface Page {
  links?: { pages?: { next?: string } };
}

export class DigitalOceanProvider extends ProviderBase<IDroplet> {
  readonly id = 'digitalocean' as const;
  private client: Promise<Dots> | undefined;
  private readonly pageSize: number;
  private readonly projectKey: ProjectKey;
  private keysForbidden = false;

  constructor(opts: ProviderOptions) {
    super(opts, apiBase(opts.endpoint, 'https://api.digitalocean.com', 'v2'));
    this.pageSize = Math.min(200, Math.max(1, opts.pageSize ?? 200));
    this.projectKey = new ProjectKey({ find: (signal) => this.findProjectKey(signal), make: (publicKey, signal) => this.makeProjectKey(publicKey, signal) }, this.retry);
  }

  /** The dots-wrapper client, loaded on the first request (its file is not parsed at activation). */
  private api(): Promise<Dots> {
    this.client ??= import('../vendor/dots').then(({ createApiClient }) =>
      createApiClient({ token: this.opts.token, endpoint: this.endpoint, requestTimeoutInMs: this.retry.timeoutMs }),
    );
    return this.client;
  }

  /**
   * Always with an SSH key when the token may read the team's keys, so DigitalOcean e-mails no root password: the
   * caller's (`sshKeys`), else the project key (project-key.ts). The image's digitalocean-ssh-keys unit installs it
   * for root; nobody has its private half. A token without the ssh_key scopes creates without one, as before.
   */
  override async create(req: CreateRequest, signal?: AbortSignal): Promise<Machine> {
    if (req.sshKeys?.length) return super.create(req, signal);
    const key = await this.guard(() => this.projectKeyId(signal), signal);
    return super.create(key ? { ...req, sshKeys: [key] } : req, signal);
  }

  /** The project key, looked up (or made) ahead of the create it is needed by. */
  prepareCreate(signal?: AbortSignal): Promise<void> {
    return this.guard(async () => void (await this.projectKeyId(signal)), signal);
  }

  /**
   * The project key's id; undefined when the token may not see or add keys (a custom-scoped token). A token's
   * scopes are fixed when it is made, so after one refusal this client stops asking.
   */
  private async projectKeyId(signal?: AbortSignal): Promise<string | undefined> {
    if (this.keysForbidden) return undefined;
    try {
      return await this.projectKey.get(signal);
    } catch (e) {
      if (e instanceof ApiError && e.kind === 'http' && e.status === 403 && !isLimitError(e)) {
        this.keysForbidden = true;
        return undefined;
      }
      throw e;
    }
  }

  /** The oldest key of that name: DigitalOcean allows two keys of one name, which two windows could make at once. */
  private async findProjectKey(signal?: AbortSignal): Promise<string | undefined> {
    const { items } = await this.pages(
      async (page) => (await this.api()).sshKey.listSshKeys({ page, per_page: this.pageSize }),
      (d) => d.ssh_keys,
      signal,
    );
    const oldest = items.filter((k) => k.name === PROJECT_KEY_NAME).sort((a, b) => a.id - b.id)[0];
    return oldest && String(oldest.id);
  }

  /** Adds the key; when another window added one first, removes ours and answers theirs, so both use one key. */
  private async makeProjectKey(publicKey: string, signal?: AbortSignal): Promise<string> {
    const { data } = await this.call(async () => (await this.api()).sshKey.createSshKey({ name: PROJECT_KEY_NAME, public_key: publicKey }), signal);
    const made = String(data.ssh_key.id);
    const oldest = await this.findProjectKey(signal);
    if (!oldest || oldest === made) return made;
    await this.call(async () => (await this.api()).sshKey.destroySshKey({ ssh_key_id: made }), signal).catch(() => undefined);
    return oldest;
  }

  /** Adds the new deadline tag before removing the old ones, so the machine is never without a deadline. */
  async setDeadline(id: string, deadline: Date, signal?: AbortSignal): Promise<void> {
    return this.guard(async () => {
      const d = (await this.owned(id, true, signal))!;
      const tag = DO_DEADLINE + formatDeadline(deadline);
      const resources = [{ resource_id: String(d.id), resource_type: 'droplet' as const }];
      await this.retrying(async () => (await this.api()).tag.createTag({ name: tag }), signal).catch(existingTagIsFine);
      await this.retrying(async () => (await this.api()).tag.tagResources({ tag_name: tag, resources }), signal);
      for (const old of d.tags.filter((t) => t.startsWith(DO_DEADLINE) && t !== tag)) {
        await this.retrying(async () => (await this.api()).tag.untagResources({ tag_name: old, resources }), signal).catch(goneIsDone);
      }
    }, signal);
  }

  async powerOff(id: string, signal?: AbortSignal): Promise<void> {
    return this.guard(async () => {
      const d = await this.owned(id, false, signal);
      if (!d) return;
      await this.whenUnlocked(() => this.retrying(async () => (await this.api()).droplet.powerOffDroplet({ droplet_id: d.id }), signal), signal);
    }, signal);
  }

  async regions(signal?: AbortSignal): Promise<Region[]> {
    return this.guard(async () => {
      const { items } = await this.pages(
        async (page) => (await this.api()).region.listRegions({ page, per_page: this.pageSize }),
        (d) => d.regions,
        signal,
      );
      return items.map((r) => ({ slug: r.slug, name: r.name, available: r.available }));
    }, signal);
  }

  async sizes(signal?: AbortSignal): Promise<Size[]> {
    return this.guard(async () => {
      const { items } = await this.pages(
        async (page) => (await this.api()).size.listSizes({ page, per_page: this.pageSize }),
        (d) => d.sizes,
        signal,
      );
      return items
        .filter((s) => s.available !== false)
        .map((s) => ({
          slug: s.slug,
          cpus: s.vcpus,
          memoryGiB: s.memory / 1024,
          diskGiB: s.disk,
          pricePerHour: s.price_hourly,
          currency: 'USD' as const,
          regions: s.regions ?? [],
        }));
    }, signal);
  }

  async images(signal?: AbortSignal): Promise<Image[]> {
    return this.guard(async () => {
      const { items } = await this.pages(
        async (page) => (await this.api()).image.listImages({ page, per_page: this.pageSize }),
        (d) => d.images,
        signal,
      );
      return items.map((i) => ({
        // Distributions are created by slug; custom images and snapshots by id.
        id: i.slug ?? String(i.id),
        name: i.distribution && i.type !== 'custom' && !i.name.includes(i.distribution) ? `${i.distribution} ${i.name}` : i.name,
        kind: i.type === 'custom' ? 'custom' : i.type === 'snapshot' ? 'snapshot' : i.type === 'base' || i.type === 'distribution' ? 'distribution' : 'other',
        status: i.status,
        regions: i.regions ?? [],
      }));
    }, signal);
  }

  // --- the primitives ProviderBase builds on ---

  protected async listRaw(runId: string | undefined, signal?: AbortSignal): Promise<Listing<IDroplet>> {
    // The run id is a tag of its own: DigitalOcean filters on it.
    const tag = runId ?? TAG;
    return this.pages(
      async (page) => (await this.api()).droplet.listDroplets({ page, per_page: this.pageSize, tag_name: tag }),
      (d) => d.droplets,
      signal,
    );
  }

  protected async getRaw(id: string, signal?: AbortSignal): Promise<IDroplet | undefined> {
    if (!/^\d+$/.test(id)) return undefined;
    try {
      return (await this.retrying(async () => (await this.api()).droplet.getDroplet({ droplet_id: Number(id) }), signal)).data.droplet;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  protected async deleteRaw(d: IDroplet, signal?: AbortSignal): Promise<void> {
    await this.retrying(async () => (await this.api()).droplet.deleteDroplet({ droplet_id: d.id }), signal);
  }

  protected nameOf(d: IDroplet): string {
    return d.name;
  }

  protected async postCreate(req: CreateRequest, name: string, runId: string, signal?: AbortSignal): Promise<Machine> {
    const res = await this.call(
      async () =>
        (await this.api()).droplet.createDroplet({
          name,
          region: req.region,
          size: req.size,
          image: /^\d+$/.test(req.image) ? Number(req.image) : req.image,
          tags: doTags(runId, req.deadline, req.toplevel),
          user_data: req.userData,
          ipv6: true,
          monitoring: false,
          ...(req.sshKeys?.length ? { ssh_keys: req.sshKeys.map((k) => (/^\d+$/.test(k) ? Number(k) : k)) } : {}),
        }),
      signal,
    );
    return this.toMachine(res.data.droplet);
  }

  /** DigitalOcean accepts duplicate names: a race is only seen afterwards (settleName). */
  protected isNameClash(): boolean {
    return false;
  }

  protected toMachine(d: IDroplet): Machine {
    const marks = readDoTags(d.tags);
    const pub = (list: { type: string; ip_address: string }[] | undefined) => list?.find((n) => n.type === 'public')?.ip_address;
    return {
      id: String(d.id),
      provider: 'digitalocean',
      name: d.name,
      runId: marks.runId,
      status: digitalOceanStatus(d.status),
      ipv4: ipv4Literal(pub(d.networks?.v4)),
      ipv6: ipv6Literal(pub(d.networks?.v6)),
      region: typeof d.region === 'string' ? d.region : (d.region?.slug ?? ''),
      size: d.size_slug ?? d.size?.slug ?? '',
      pricePerHour: typeof d.size?.price_hourly === 'number' ? d.size.price_hourly : undefined,
      currency: 'USD',
      createdAt: d.created_at,
      deadline: marks.deadline,
      toplevel: marks.toplevel,
      tagged: marks.tagged,
    };
  }

  private async pages<D extends Page, T extends { id?: number | string; slug?: string | null }>(
    fetchPage: (page: number) => Promise<{ data: D; headers: object }>,
    pick: (d: D) => T[],
    signal?: AbortSignal,
  ): Promise<Listing<T>> {
    const seen = new Map<string, T>();
    let headers: Record<string, string> = {};
    for (let page = 1; page <= 10_000; page++) {
      const res = await this.retrying(() => fetchPage(page), signal);
      headers = headerRecord(res.headers);
      const batch = pick(res.data) ?? [];
      // Keyed by id: a machine created while paging shifts the pages, and may show up twice.
      for (const item of batch) seen.set(String(item.id ?? item.slug), item);
      if (!res.data.links?.pages?.next || batch.length === 0) break;
    }
    return { items: [...seen.values()], headers };
  }

  /**
   * Two windows can create `thebacknd-N` at the same moment, and DigitalOcean allows it. Both see the pair
   * afterwards; the droplet with the higher id moves to the next free number, so exactly one of them renames.
   */
  protected override async settleName(m: Machine, signal?: AbortSignal): Promise<Machine> {
    let current = m;
    for (let round = 0; round < 5; round++) {
      const { items } = await this.listRaw(undefined, signal);
      const older = items.some((d) => d.name === current.name && d.id < Number(current.id));
      if (!older) return current;
      const name = smallestFreeName(items.map((d) => d.name));
      try {
        const action = await this.whenUnlocked(() => this.retrying(async () => (await this.api()).droplet.renameDroplet({ droplet_id: Number(current.id), name }), signal), signal);
        // Renaming is an action: until it completes, lists still show the old name to the next create.
        await this.waitForAction(action.data.action.id, signal);
      } catch (e) {
        // The machine exists and works under a duplicate name: not worth failing the create for.
        if (e instanceof ApiError && !isTransient(e)) return current;
        throw e;
      }
      current = { ...current, name };
    }
    return current;
  }

  /** A droplet takes no action while its create is pending ("already has a pending event", 422): wait for it. */
  private async whenUnlocked<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 422 && /pending event/i.test(e.message)) || i >= 240) throw e;
        await this.retry.sleep(1000, signal);
      }
    }
  }

  private async waitForAction(actionId: number, signal?: AbortSignal): Promise<void> {
    for (let i = 0; i < 120; i++) {
      const { data } = await this.retrying(async () => (await this.api()).action.getAction({ action_id: actionId }), signal);
      if (data.action.status === 'completed') return;
      if (data.action.status === 'errored') throw new ApiError('digitalocean', 'http', `action ${data.action.type} failed`, 422);
      await this.retry.sleep(500, signal);
    }
  }

  private retrying<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withRetry(() => this.call(fn, signal), this.retry, signal);
  }

  /** One request: its failure as an ApiError, the caller's signal honoured. */
  private async call<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      signal?.throwIfAborted(); // a cancelled call sends nothing
      return await abortable(fn(), signal);
    } catch (e) {
      if (signal?.aborted) throw e;
      throw toApiError(e);
    }
  }
}

/** Creating a tag that exists is not a failure; tagging with a tag that is really missing would fail next. */
function existingTagIsFine(e: unknown): void {
  if (e instanceof ApiError && e.kind === 'http' && e.status! >= 400 && e.status! < 500 && e.status !== 429 && !isAuthError(e)) return;
  throw e;
}

/** axios failures (as thrown through dots-wrapper) → ApiError. Never keeps the request config (it holds the token). */
function toApiError(e: unknown): unknown {
  if (e instanceof ApiError || !e || typeof e !== 'object') return e;
  const ax = e as { isAxiosError?: boolean; code?: string; message?: string; response?: { status: number; headers: unknown; data: unknown } };
  if (!ax.isAxiosError) return e;
  if (ax.response) {
    const body = (ax.response.data ?? {}) as { id?: string; message?: string };
    const message = typeof body.message === 'string' ? body.message : `HTTP ${ax.response.status}`;
    return new ApiError('digitalocean', 'http', message, ax.response.status, body.id, headerRecord(ax.response.headers));
  }
  if (ax.code === 'ECONNABORTED' || ax.code === 'ETIMEDOUT') return new ApiError('digitalocean', 'timeout', 'timed out');
  return new ApiError('digitalocean', 'network', ax.code ?? ax.message ?? 'network error');
}
