// The Hetzner Cloud calls an image import needs beyond CloudProvider: SSH keys, rescue mode, reset, snapshots,
// actions. Same generated client and retry rules as src/providers/hetzner.ts; the server itself is created and
// destroyed through the provider, so that it is tagged, named and reaped like any other machine.

import createClient from 'openapi-fetch';
import type { paths } from '../providers/hetzner/schema';
import { hetznerCall, type Answer } from '../providers/hetzner-call';
import { apiBase } from '../providers/options';
import { ApiError, delayFor, retryOptions, withRetry, type RetryOptions } from '../providers/retry';

export interface HzAction {
  id: number;
  command: string;
  status: 'running' | 'success' | 'error';
  progress: number;
  error: { code: string; message: string } | null;
}

export interface HzServerState {
  id: number;
  status: string;
  locked: boolean;
  rescueEnabled: boolean;
  ipv4: string | undefined;
  diskGb: number;
}

export interface HzSnapshot {
  id: number;
  status: 'available' | 'creating' | 'unavailable';
  description: string;
  labels: Record<string, string>;
  diskSize: number;
}

export class HetznerImageApi {
  private readonly api: ReturnType<typeof createClient<paths>>;
  private readonly retry: RetryOptions;

  constructor(opts: { token: string; endpoint?: string; fetch?: typeof globalThis.fetch; retry?: Partial<RetryOptions> }) {
    this.api = createClient<paths>({
      baseUrl: apiBase(opts.endpoint, 'https://api.hetzner.cloud', 'v1'),
      headers: { Authorization: `Bearer ${opts.token}` },
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
    this.retry = retryOptions(opts.retry);
  }

  /** One request, never repeated: for calls whose lost answer the caller resolves itself. */
  async createSshKey(name: string, publicKey: string, labels: Record<string, string>, signal?: AbortSignal): Promise<number> {
    const d = await this.call((sig) => this.api.POST('/ssh_keys', { signal: sig, body: { name, public_key: publicKey, labels } }), signal);
    return d.ssh_key.id;
  }

  async findSshKey(name: string, signal?: AbortSignal): Promise<number | undefined> {
    const d = await this.retrying((sig) => this.api.GET('/ssh_keys', { signal: sig, params: { query: { name } } }), signal);
    return d.ssh_keys.find((k) => k.name === name)?.id;
  }

  /** Idempotent: a key already gone is success. */
  async deleteSshKey(id: number, signal?: AbortSignal): Promise<void> {
    await this.retrying((sig) => this.api.DELETE('/ssh_keys/{id}', { signal: sig, params: { path: { id } } }), signal).catch(notFoundIsDone);
  }

  async server(id: number, signal?: AbortSignal): Promise<HzServerState | undefined> {
    try {
      const { server: s } = await this.retrying((sig) => this.api.GET('/servers/{id}', { signal: sig, params: { path: { id } } }), signal);
      if (!s) return undefined;
      return {
        id: s.id,
        status: s.status,
        locked: s.locked,
        rescueEnabled: s.rescue_enabled,
        ipv4: s.public_net?.ipv4?.ip ?? undefined,
        diskGb: s.primary_disk_size,
      };
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  /** Repeating it is harmless (rescue mode is simply enabled again), so it retries like a read. */
  async enableRescue(id: number, sshKeyId: number, signal?: AbortSignal): Promise<HzAction> {
    const d = await this.retrying(
      (sig) => this.api.POST('/servers/{id}/actions/enable_rescue', { signal: sig, params: { path: { id } }, body: { type: 'linux64', ssh_keys: [sshKeyId] } }),
      signal,
    );
    return d.action!;
  }

  /** A hard reset (the disk is about to be overwritten anyway); repeating it only reboots once more. */
  async reset(id: number, signal?: AbortSignal): Promise<HzAction> {
    const d = await this.retrying((sig) => this.api.POST('/servers/{id}/actions/reset', { signal: sig, params: { path: { id } } }), signal);
    return d.action;
  }

  /**
   * Repeated only when it was refused before anything happened (429, 423 locked): a lost answer may already have
   * made the snapshot, and a second request would make a second one. The caller looks it up by its labels instead.
   */
  async createSnapshot(id: number, description: string, labels: Record<string, string>, signal?: AbortSignal): Promise<{ imageId: number; action: HzAction }> {
    for (let attempt = 0; ; attempt++) {
      try {
        const d = await this.call(
          (sig) => this.api.POST('/servers/{id}/actions/create_image', { signal: sig, params: { path: { id } }, body: { type: 'snapshot', description, labels } }),
          signal,
        );
        if (!d.image || !d.action) throw new ApiError('hetzner', 'http', 'create_image answered without an image', 500);
        return { imageId: d.image.id, action: d.action };
      } catch (e) {
        const refused = e instanceof ApiError && (e.status === 429 || e.status === 423);
        if (!refused || attempt >= this.retry.retries) throw e;
        await this.retry.sleep(delayFor(e, attempt, this.retry), signal);
      }
    }
  }

  /** Snapshots carrying these labels (a label selector `k==v,…`). */
  async snapshots(labels: Record<string, string>, signal?: AbortSignal): Promise<HzSnapshot[]> {
    const selector = Object.entries(labels)
      .map(([k, v]) => `${k}==${v}`)
      .join(',');
    const d = await this.retrying((sig) => this.api.GET('/images', { signal: sig, params: { query: { type: ['snapshot'], label_selector: selector, per_page: 50 } } }), signal);
    return d.images.map(snapshotOf);
  }

  async image(id: number, signal?: AbortSignal): Promise<HzSnapshot | undefined> {
    try {
      const d = await this.retrying((sig) => this.api.GET('/images/{id}', { signal: sig, params: { path: { id } } }), signal);
      return d.image && snapshotOf(d.image);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  async deleteImage(id: number, signal?: AbortSignal): Promise<void> {
    await this.retrying((sig) => this.api.DELETE('/images/{id}', { signal: sig, params: { path: { id } } }), signal).catch(notFoundIsDone);
  }

  async action(id: number, signal?: AbortSignal): Promise<HzAction> {
    const d = await this.retrying((sig) => this.api.GET('/actions/{id}', { signal: sig, params: { path: { id } } }), signal);
    return d.action;
  }

  private retrying<D>(fn: (signal: AbortSignal) => Promise<Answer<D>>, signal?: AbortSignal): Promise<D> {
    return withRetry(() => this.call(fn, signal), this.retry, signal);
  }

  /** One request with its own timeout; failures as ApiError (the caller's abort passed through). */
  private async call<D>(fn: (signal: AbortSignal) => Promise<Answer<D>>, signal?: AbortSignal): Promise<D> {
    return (await hetznerCall(fn, this.retry.timeoutMs, signal)).data;
  }
}

function snapshotOf(i: { id: number; status: HzSnapshot['status']; description: string; labels: Record<string, string>; disk_size: number }): HzSnapshot {
  return { id: i.id, status: i.status, description: i.description, labels: { ...i.labels }, diskSize: i.disk_size };
}

function notFoundIsDone(e: unknown): void {
  if (e instanceof ApiError && e.status === 404) return;
  throw e;
}
