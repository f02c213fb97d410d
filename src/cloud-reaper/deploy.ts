// Deploy, inspect and remove the cloud reaper on DigitalOcean Functions: the API the CLI (`thebacknd reaper …`) and
// the VS Code command share. vscode-free; the caller stores the returned secret (the CLI in a 0600 file, the
// extension in SecretStorage) because it needs it again only to compute each machine's destroy-self code.
//
// Layout: a namespace labelled `thebacknd` (reused when one exists, created otherwise), a package `thebacknd` with
// the four actions, and a scheduled trigger firing `thebacknd/destroy-old` every reapIntervalMinutes. Tokens,
// endpoints and maxAgeMinutes are bound to every action as parameters, the secret to destroy-self only; every action
// is `final` so that no caller can override them. Deploying again updates all of it in place and keeps the secret
// and the web action's auth string (read back from the deployed destroy-self when the caller has no copy), so the
// codes of machines already running stay valid.

import { randomBytes } from 'node:crypto';
import { UserError } from '../base/errors';
import type { ProviderId } from '../providers/types';
import type { RetryOptions } from '../providers/retry';
import { loadReaperCode, REAPER_ACTIONS, type ReaperActionName, type ReaperCode } from './bundles';
import { reaperCost, type ReaperCost, ACTION_MEMORY_MB } from './cost';
import { newReaperSecret } from './destroy-code';
import { FunctionsApi, OpenWhiskApi, type Activation, type KeyValue, type Namespace, type Trigger } from './functions-api';
import type { ReaperLink } from './link';
import { boundParameters, PARAM } from './params';
import { cronFor, nextCronRun } from './schedule';

export type { ReaperActionName, ReaperCode } from './bundles';
export type { ReaperCost } from './cost';

export const REAPER_LABEL = 'thebacknd';
export const REAPER_PACKAGE = 'thebacknd';
export const REAPER_TRIGGER = 'thebacknd-destroy-old';
/** Recorded on the package when the deploy created the namespace: remove deletes it then, and only then. */
const CREATED_NAMESPACE = 'thebacknd-created-namespace';
/** DigitalOcean allows up to 15 min; a pass lists two clouds and destroys a few machines. */
export const ACTION_TIMEOUT_MS = 120_000;
export const DEFAULT_FUNCTIONS_REGION = 'ams3';

export interface ReaperClientOptions {
  /** DigitalOcean token: manages the namespace (and is bound to the actions, to reap droplets). */
  digitaloceanToken: string;
  /** API base URLs (the emulator); empty = the real clouds. Bound to the actions too. */
  endpoints?: Partial<Record<ProviderId, string>>;
  retry?: Partial<RetryOptions>;
  fetch?: typeof globalThis.fetch;
}

export interface ReaperDeployOptions extends ReaperClientOptions {
  /** Bound as well, so that the reaper destroys Hetzner servers too. */
  hetznerToken?: string;
  /** Region of a namespace the deploy creates (an existing `thebacknd` namespace is reused wherever it is). */
  region?: string;
  intervalMinutes: number;
  maxAgeMinutes: number;
  /** The destroy-self secret and auth string to keep; default: those deployed already, else new ones. */
  secret?: string;
  whiskAuth?: string;
  /** The action bundles; default: dist/reaper/. */
  code?: ReaperCode;
  /** Progress lines (never a secret). */
  log?: (line: string) => void;
}

export interface ReaperDeployment {
  namespace: string;
  label: string;
  region: string;
  apiHost: string;
  createdNamespace: boolean;
  /** `thebacknd/list`, … */
  actions: string[];
  /** The runtime the actions run on (`nodejs:18` or the newest Node.js the platform lists). */
  kind: string;
  trigger: { name: string; cron: string; nextRunAt?: string };
  /** The web action machines call; no credentials in it. */
  destroySelfUrl: string;
  /** SECRET: the HMAC key of destroy-self codes. Store it 0600 / in SecretStorage; never print it. */
  secret: string;
  /** Sent by machines as X-Require-Whisk-Auth; carried in user-data (it alone destroys nothing). */
  whiskAuth: string;
  intervalMinutes: number;
  maxAgeMinutes: number;
  cost: ReaperCost;
}

/** What a run needs to let its machine call destroy-self (see link.ts). */
export type { ReaperLink } from './link';

export interface ReaperActivation {
  /** ISO time the activation started. */
  at: string;
  action: string;
  ok: boolean;
  /** Names of the machines it destroyed. */
  destroyed: string[];
  error?: string;
}

export interface ReaperStatus {
  deployed: boolean;
  namespace?: string;
  region?: string;
  /** Actions present in the namespace. */
  actions: string[];
  trigger?: { name: string; cron: string; enabled: boolean; lastRunAt?: string; nextRunAt?: string };
  /** Newest first. */
  activations: ReaperActivation[];
  destroySelfUrl?: string;
}

export interface ReaperRemoval {
  removed: string[];
  namespaceDeleted: boolean;
  /** Set when the namespace was not Thebacknd's and is kept. */
  keptNamespace?: string;
}

const qualified = (a: ReaperActionName): string => `${REAPER_PACKAGE}/${a}`;

function functionsApi(o: ReaperClientOptions): FunctionsApi {
  if (!o.digitaloceanToken) throw new UserError('The cloud reaper runs on DigitalOcean Functions: a DigitalOcean token is needed.', { kind: 'setToken', provider: 'digitalocean' });
  return new FunctionsApi(o.digitaloceanToken, o.endpoints?.digitalocean, { ...(o.retry ? { retry: o.retry } : {}), ...(o.fetch ? { fetch: o.fetch } : {}) });
}

function whisk(ns: Namespace, o: ReaperClientOptions): OpenWhiskApi {
  return new OpenWhiskApi(ns, ns.namespace, { ...(o.retry ? { retry: o.retry } : {}), ...(o.fetch ? { fetch: o.fetch } : {}) });
}

/** The `thebacknd` namespace, with its key (the list may omit keys: ask for the namespace itself then). */
async function findNamespace(api: FunctionsApi): Promise<Namespace | undefined> {
  const found = (await api.namespaces()).find((n) => n.label === REAPER_LABEL);
  if (!found) return undefined;
  return found.key && found.uuid ? found : ((await api.namespace(found.namespace)) ?? found);
}

/** `nodejs:18`, or the newest Node.js kind the platform lists (18 or later). */
export function pickNodeKind(kinds: readonly string[]): string {
  const node = kinds
    .map((k) => /^nodejs:(\d+)$/.exec(k))
    .filter((m): m is RegExpExecArray => !!m && Number(m[1]) >= 18)
    .sort((a, b) => Number(b[1]) - Number(a[1]));
  return node[0]?.[0] ?? 'nodejs:18';
}

function value(list: readonly KeyValue[] | undefined, key: string): unknown {
  return list?.find((kv) => kv.key === key)?.value;
}

export async function deployReaper(o: ReaperDeployOptions): Promise<ReaperDeployment> {
  const log = o.log ?? (() => undefined);
  const cron = cronFor(o.intervalMinutes);
  const code = o.code ?? loadReaperCode();
  const api = functionsApi(o);

  let ns = await findNamespace(api);
  let created = false;
  if (ns) {
    log(`Using the namespace "${REAPER_LABEL}" (${ns.namespace}, ${ns.region}).`);
  } else {
    ns = await api.createNamespace(o.region ?? DEFAULT_FUNCTIONS_REGION, REAPER_LABEL);
    if (!ns.key || !ns.uuid) ns = (await api.namespace(ns.namespace)) ?? ns;
    created = true;
    log(`Created the namespace "${REAPER_LABEL}" (${ns.namespace}, ${ns.region}).`);
  }
  if (!ns.key || !ns.uuid || !ns.api_host) throw new UserError(`DigitalOcean Functions gave no API host or key for namespace ${ns.namespace}.`);
  const ow = whisk(ns, o);

  // Deploying again keeps the secret and auth string, so machines already running keep valid codes; and keeps the
  // record of who created the namespace.
  const previous = await ow.getAction(qualified('destroy-self'));
  const secret = o.secret || String(value(previous?.parameters, PARAM.secret) ?? '') || newReaperSecret();
  const oldAuth = value(previous?.annotations, 'require-whisk-auth');
  const whiskAuth = o.whiskAuth || (typeof oldAuth === 'string' && oldAuth ? oldAuth : randomBytes(24).toString('hex'));
  const createdNamespace = created || (await namespaceWasCreated(ow));

  const kind = pickNodeKind(await ow.runtimeKinds().catch(() => []));
  await ow.putPackage(REAPER_PACKAGE, [
    { key: 'description', value: 'Thebacknd cloud reaper: destroys tagged machines past their deadline.' },
    { key: CREATED_NAMESPACE, value: createdNamespace },
  ]);
  const config = {
    tokens: { digitalocean: o.digitaloceanToken, ...(o.hetznerToken ? { hetzner: o.hetznerToken } : {}) },
    ...(o.endpoints ? { endpoints: o.endpoints } : {}),
    maxAgeMinutes: o.maxAgeMinutes,
    secret,
  };
  for (const a of REAPER_ACTIONS) {
    const web = a === 'destroy-self';
    const annotations: KeyValue[] = [
      { key: 'final', value: true },
      { key: 'provide-api-key', value: false },
      ...(web
        ? [
            { key: 'web-export', value: true },
            { key: 'raw-http', value: false },
            { key: 'require-whisk-auth', value: whiskAuth },
          ]
        : [{ key: 'web-export', value: false }]),
    ];
    await ow.putAction(qualified(a), {
      kind,
      code: code[a],
      parameters: boundParameters(config, web),
      annotations,
      limits: { timeout: ACTION_TIMEOUT_MS, memory: ACTION_MEMORY_MB },
    });
    log(`Deployed ${qualified(a)} (${kind}${web ? ', web action' : ''}).`);
  }

  const existing = (await api.triggers(ns.namespace)).find((t) => t.name === REAPER_TRIGGER);
  const trigger = existing
    ? await api.updateTrigger(ns.namespace, REAPER_TRIGGER, cron)
    : await api.createTrigger(ns.namespace, { name: REAPER_TRIGGER, function: qualified('destroy-old'), cron });
  log(`${existing ? 'Updated' : 'Created'} the trigger ${REAPER_TRIGGER}: ${cron} (every ${o.intervalMinutes} min).`);
  const nextRunAt = trigger?.scheduled_runs?.next_run_at ?? nextCronRun(cron, new Date())?.toISOString();

  return {
    namespace: ns.namespace,
    label: ns.label,
    region: ns.region,
    apiHost: ow.apiHost,
    createdNamespace,
    actions: REAPER_ACTIONS.map(qualified),
    kind,
    trigger: { name: REAPER_TRIGGER, cron, ...(nextRunAt ? { nextRunAt } : {}) },
    destroySelfUrl: ow.webUrl(qualified('destroy-self')),
    secret,
    whiskAuth,
    intervalMinutes: o.intervalMinutes,
    maxAgeMinutes: o.maxAgeMinutes,
    cost: reaperCost(o.intervalMinutes),
  };
}

async function namespaceWasCreated(ow: OpenWhiskApi): Promise<boolean> {
  const pkg = await ow.getPackage(REAPER_PACKAGE);
  return value(pkg?.annotations, CREATED_NAMESPACE) === true;
}

export async function reaperStatus(o: ReaperClientOptions & { limit?: number }): Promise<ReaperStatus> {
  const api = functionsApi(o);
  const ns = await findNamespace(api);
  if (!ns) return { deployed: false, actions: [], activations: [] };
  const ow = whisk(ns, o);
  const actions: string[] = [];
  for (const a of REAPER_ACTIONS) if (await ow.getAction(qualified(a))) actions.push(qualified(a));
  const t: Trigger | undefined = (await api.triggers(ns.namespace)).find((x) => x.name === REAPER_TRIGGER);
  const names = new Set<string>(REAPER_ACTIONS);
  const activations = (await ow.activations('', Math.max(1, Math.min(200, (o.limit ?? 10) * 3))))
    .filter((a) => names.has(a.name.replace(/^.*\//, '')))
    .slice(0, o.limit ?? 10)
    .map(summarise);
  const cron = t?.scheduled_details?.cron;
  const nextRunAt = t?.scheduled_runs?.next_run_at ?? (cron && t?.is_enabled ? nextCronRun(cron, new Date())?.toISOString() : undefined);
  return {
    deployed: actions.length === REAPER_ACTIONS.length && !!t,
    namespace: ns.namespace,
    region: ns.region,
    actions,
    ...(t
      ? {
          trigger: {
            name: t.name,
            cron: cron ?? '',
            enabled: t.is_enabled,
            ...(t.scheduled_runs?.last_run_at ? { lastRunAt: t.scheduled_runs.last_run_at } : {}),
            ...(nextRunAt ? { nextRunAt } : {}),
          },
        }
      : {}),
    activations,
    ...(actions.includes(qualified('destroy-self')) ? { destroySelfUrl: ow.webUrl(qualified('destroy-self')) } : {}),
  };
}

/** An activation as status prints it: machine names only, whatever else the result holds. */
function summarise(a: Activation): ReaperActivation {
  const result = (a.response?.result ?? {}) as Record<string, unknown>;
  const body = (typeof result.body === 'object' && result.body ? result.body : result) as Record<string, unknown>;
  const destroyed = Array.isArray(body.destroyed) ? body.destroyed.map((d) => String((d as { name?: unknown }).name ?? '')).filter(Boolean) : [];
  const ok = a.response?.success !== false && body.ok !== false;
  const error = typeof body.error === 'string' ? body.error : typeof result.error === 'string' ? result.error : undefined;
  return { at: new Date(a.start).toISOString(), action: a.name.replace(/^.*\//, ''), ok, destroyed, ...(error ? { error } : {}) };
}

export async function removeReaper(o: ReaperClientOptions): Promise<ReaperRemoval> {
  const api = functionsApi(o);
  const ns = await findNamespace(api);
  if (!ns) return { removed: [], namespaceDeleted: false };
  const ow = whisk(ns, o);
  const removed: string[] = [];
  const createdNamespace = await namespaceWasCreated(ow).catch(() => false);
  if ((await api.triggers(ns.namespace)).some((t) => t.name === REAPER_TRIGGER)) {
    await api.deleteTrigger(ns.namespace, REAPER_TRIGGER);
    removed.push(`trigger ${REAPER_TRIGGER}`);
  }
  for (const a of REAPER_ACTIONS) {
    if (await ow.getAction(qualified(a))) {
      await ow.deleteAction(qualified(a));
      removed.push(`action ${qualified(a)}`);
    }
  }
  await ow.deletePackage(REAPER_PACKAGE);
  if (createdNamespace) {
    await api.deleteNamespace(ns.namespace);
    return { removed, namespaceDeleted: true };
  }
  return { removed, namespaceDeleted: false, keptNamespace: ns.namespace };
}

/** The link a run puts in user-data, from what deployReaper returned (and the caller stored). */
export function linkOf(d: Pick<ReaperDeployment, 'destroySelfUrl' | 'whiskAuth' | 'secret'>): ReaperLink {
  return { url: d.destroySelfUrl, whiskAuth: d.whiskAuth, secret: d.secret };
}
