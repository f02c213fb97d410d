// Two small clients: DigitalOcean's Functions API (namespaces and scheduled triggers, under /v2/functions, with the
// account's token) and a namespace's OpenWhisk API (packages, actions, activations, with the namespace's uuid:key).
// Both retry 429 / 5xx / network failures as the providers do (src/providers/retry.ts) and fail with a UserError
// whose text never holds a token or key.

import { UserError } from '../base/errors';
import { apiBase, headerRecord } from '../providers/options';
import { toUserError } from '../providers/errors';
import { ApiError, retryOptions, withRetry, type RetryOptions } from '../providers/retry';

export interface Namespace {
  api_host: string;
  namespace: string;
  label: string;
  region: string;
  uuid: string;
  key: string;
  created_at?: string;
}

export interface Trigger {
  name: string;
  function: string;
  type: string;
  is_enabled: boolean;
  scheduled_details?: { cron: string; body?: Record<string, unknown> | null };
  scheduled_runs?: { last_run_at?: string | null; next_run_at?: string | null };
}

export interface KeyValue {
  key: string;
  value: unknown;
}

export interface Activation {
  activationId: string;
  name: string;
  start: number;
  end?: number;
  duration?: number;
  annotations?: KeyValue[];
  response?: { status?: string; statusCode?: number; success?: boolean; result?: Record<string, unknown> };
}

export interface ClientOptions {
  retry?: Partial<RetryOptions>;
  fetch?: typeof globalThis.fetch;
}

interface Req {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  body?: unknown;
  /** 404 answers undefined instead of failing. */
  missingOk?: boolean;
}

abstract class JsonClient {
  protected readonly retry: RetryOptions;
  private readonly fetchFn: typeof globalThis.fetch;

  constructor(
    protected readonly base: string,
    private readonly authorization: string,
    private readonly secrets: string[],
    opts: ClientOptions,
  ) {
    this.retry = retryOptions(opts.retry);
    this.fetchFn = opts.fetch ?? globalThis.fetch;
  }

  protected abstract readonly what: string;

  protected async request<T>(r: Req): Promise<T | undefined> {
    try {
      return await withRetry(() => this.once<T>(r), this.retry);
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw this.explain(e);
    }
  }

  /** A failure as a sentence to act on; the providers' wording, with the secrets of this client redacted. */
  protected explain(e: unknown): Error {
    return toUserError('digitalocean', e, { endpoint: this.base, secrets: this.secrets });
  }

  private async once<T>(r: Req): Promise<T | undefined> {
    let res: Response;
    try {
      res = await this.fetchFn(`${this.base}${r.path}`, {
        method: r.method,
        headers: { Authorization: this.authorization, Accept: 'application/json', ...(r.body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        ...(r.body === undefined ? {} : { body: JSON.stringify(r.body) }),
        signal: AbortSignal.timeout(this.retry.timeoutMs),
      });
    } catch (e) {
      const name = (e as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError') throw new ApiError('digitalocean', 'timeout', 'timed out');
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new ApiError('digitalocean', 'network', cause ?? 'network error');
    }
    const text = await res.text();
    if (res.status === 404 && r.missingOk) return undefined;
    if (!res.ok) {
      let body: { message?: string; error?: string; id?: string; code?: string } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        /* not JSON */
      }
      const message = body.message ?? body.error ?? `HTTP ${res.status}`;
      throw new ApiError('digitalocean', 'http', `${r.method} ${r.path.split('?')[0]}: ${message}`, res.status, body.id ?? body.code, headerRecord(res.headers));
    }
    if (!text) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new UserError(`${this.what} answered ${r.method} ${r.path.split('?')[0]} with something that is not JSON.`);
    }
  }
}

/** `/v2/functions/…` of the DigitalOcean API. */
export class FunctionsApi extends JsonClient {
  protected readonly what = 'DigitalOcean Functions';

  constructor(token: string, endpoint: string | undefined, opts: ClientOptions = {}) {
    super(apiBase(endpoint, 'https://api.digitalocean.com', 'v2'), `Bearer ${token}`, [token], opts);
  }

  async namespaces(): Promise<Namespace[]> {
    return (await this.request<{ namespaces?: Namespace[] }>({ method: 'GET', path: '/functions/namespaces' }))?.namespaces ?? [];
  }

  async namespace(id: string): Promise<Namespace | undefined> {
    return (await this.request<{ namespace: Namespace }>({ method: 'GET', path: `/functions/namespaces/${enc(id)}`, missingOk: true }))?.namespace;
  }

  async createNamespace(region: string, label: string): Promise<Namespace> {
    const res = await this.request<{ namespace: Namespace }>({ method: 'POST', path: '/functions/namespaces', body: { region, label } });
    if (!res?.namespace) throw new UserError('DigitalOcean Functions created no namespace (empty answer).');
    return res.namespace;
  }

  async deleteNamespace(id: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `/functions/namespaces/${enc(id)}`, missingOk: true });
  }

  async triggers(ns: string): Promise<Trigger[]> {
    return (await this.request<{ triggers?: Trigger[] }>({ method: 'GET', path: `/functions/namespaces/${enc(ns)}/triggers` }))?.triggers ?? [];
  }

  async createTrigger(ns: string, t: { name: string; function: string; cron: string; body?: Record<string, unknown> }): Promise<Trigger | undefined> {
    const res = await this.request<{ trigger: Trigger }>({
      method: 'POST',
      path: `/functions/namespaces/${enc(ns)}/triggers`,
      body: { name: t.name, function: t.function, type: 'SCHEDULED', is_enabled: true, scheduled_details: { cron: t.cron, ...(t.body ? { body: t.body } : {}) } },
    });
    return res?.trigger;
  }

  async updateTrigger(ns: string, name: string, cron: string, body?: Record<string, unknown>): Promise<Trigger | undefined> {
    const res = await this.request<{ trigger: Trigger }>({
      method: 'PUT',
      path: `/functions/namespaces/${enc(ns)}/triggers/${enc(name)}`,
      body: { is_enabled: true, scheduled_details: { cron, ...(body ? { body } : {}) } },
    });
    return res?.trigger;
  }

  async deleteTrigger(ns: string, name: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `/functions/namespaces/${enc(ns)}/triggers/${enc(name)}`, missingOk: true });
  }
}

/** The namespace's own OpenWhisk API, `{api_host}/api/v1`, with HTTP Basic `uuid:key`. */
export class OpenWhiskApi extends JsonClient {
  protected readonly what = 'DigitalOcean Functions (OpenWhisk)';
  readonly apiHost: string;

  constructor(
    ns: Pick<Namespace, 'api_host' | 'uuid' | 'key'>,
    readonly namespace: string,
    opts: ClientOptions = {},
  ) {
    const host = functionsHost(ns.api_host, namespace);
    super(`${host}/api/v1`, `Basic ${Buffer.from(`${ns.uuid}:${ns.key}`).toString('base64')}`, [ns.key, Buffer.from(`${ns.uuid}:${ns.key}`).toString('base64')], opts);
    this.apiHost = host;
  }

  /** A refused key is the namespace's, not the account token: say so. */
  protected override explain(e: unknown): Error {
    if (e instanceof ApiError && e.kind === 'http' && (e.status === 401 || e.status === 403)) {
      return new UserError(`DigitalOcean Functions refused the namespace's key (HTTP ${e.status}): run \`thebacknd reaper deploy\` again.`);
    }
    return super.explain(e);
  }

  /** `{ runtimes: { nodejs: [{ kind: 'nodejs:18', … }] } }`: the kinds this platform runs. */
  async runtimeKinds(): Promise<string[]> {
    const info = await this.request<{ runtimes?: Record<string, { kind?: string; deprecated?: boolean }[]> }>({ method: 'GET', path: '' });
    return Object.values(info?.runtimes ?? {})
      .flat()
      .filter((r) => r.kind && r.deprecated !== true)
      .map((r) => r.kind!);
  }

  async putPackage(name: string, annotations: KeyValue[] = []): Promise<void> {
    await this.request({ method: 'PUT', path: `/namespaces/${enc(this.namespace)}/packages/${enc(name)}?overwrite=true`, body: { publish: false, annotations } });
  }

  async getPackage(name: string): Promise<{ annotations?: KeyValue[] } | undefined> {
    return this.request({ method: 'GET', path: `/namespaces/${enc(this.namespace)}/packages/${enc(name)}`, missingOk: true });
  }

  async deletePackage(name: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `/namespaces/${enc(this.namespace)}/packages/${enc(name)}`, missingOk: true });
  }

  async putAction(
    qualified: string,
    action: { kind: string; code: string; parameters: KeyValue[]; annotations: KeyValue[]; limits: { timeout: number; memory: number } },
  ): Promise<void> {
    await this.request({
      method: 'PUT',
      path: `/namespaces/${enc(this.namespace)}/actions/${actionPath(qualified)}?overwrite=true`,
      body: {
        exec: { kind: action.kind, code: action.code, binary: false, main: 'main' },
        parameters: action.parameters,
        annotations: action.annotations,
        limits: action.limits,
        publish: false,
      },
    });
  }

  async getAction(qualified: string): Promise<{ parameters?: KeyValue[]; annotations?: KeyValue[] } | undefined> {
    return this.request({ method: 'GET', path: `/namespaces/${enc(this.namespace)}/actions/${actionPath(qualified)}?code=false`, missingOk: true });
  }

  async deleteAction(qualified: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `/namespaces/${enc(this.namespace)}/actions/${actionPath(qualified)}`, missingOk: true });
  }

  async invoke(qualified: string, params: Record<string, unknown> = {}): Promise<Activation | undefined> {
    return this.request({ method: 'POST', path: `/namespaces/${enc(this.namespace)}/actions/${actionPath(qualified)}?blocking=true`, body: params });
  }

  /** The newest first; `name` filters by action (`package/action`). */
  async activations(name: string, limit: number): Promise<Activation[]> {
    const q = `${name ? `name=${encodeURIComponent(name)}&` : ''}limit=${limit}&docs=true`;
    return (await this.request<Activation[]>({ method: 'GET', path: `/namespaces/${enc(this.namespace)}/activations?${q}` })) ?? [];
  }

  /** Where a web action answers (no credentials needed, only X-Require-Whisk-Auth when set). */
  webUrl(qualified: string): string {
    return `${this.apiHost}/api/v1/web/${enc(this.namespace)}/${actionPath(qualified)}`;
  }
}

/**
 * DigitalOcean's namespaces report `api_host` on `….doserverless.io`, and doctl talks to `fn-` namespaces on
 * `….doserverless.co` instead (../shared/specs/README.md); any other host (the emulator) is used as given.
 */
export function functionsHost(apiHost: string, namespace: string): string {
  const host = apiHost.replace(/\/+$/, '');
  return namespace.startsWith('fn-') ? host.replace(/(\.doserverless)\.io$/, '$1.co') : host;
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** `package/action` keeps its slash. */
function actionPath(qualified: string): string {
  return qualified.split('/').map(enc).join('/');
}
