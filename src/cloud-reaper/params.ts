// The parameters the deploy binds to each action (tokens, endpoints, the destroy-self secret), and how an action
// reads them. Bound parameters reach the action's `main(params)` merged with the caller's; the deploy marks every
// action `final`, so a caller cannot override a bound one, and binds every name below (empty when unused) so that
// none is left open for a caller to fill in (an endpoint chosen by a caller would receive the token).

import { createProvider } from '../providers';
import type { CloudProvider, ProviderId } from '../providers/types';
import { PROVIDERS } from '../base/tokens';
import { BOUNDS, DEFAULTS } from '../base/settings';

export const PARAM = {
  token: { digitalocean: 'digitaloceanToken', hetzner: 'hetznerToken' } as Record<ProviderId, string>,
  endpoint: { digitalocean: 'digitaloceanEndpoint', hetzner: 'hetznerEndpoint' } as Record<ProviderId, string>,
  maxAgeMinutes: 'maxAgeMinutes',
  secret: 'secret',
} as const;

export type Params = Record<string, unknown>;

/** What the deploy binds; `secret` only on destroy-self. */
export interface BoundConfig {
  tokens: Partial<Record<ProviderId, string>>;
  endpoints?: Partial<Record<ProviderId, string>>;
  maxAgeMinutes: number;
  secret?: string;
}

export function boundParameters(c: BoundConfig, withSecret: boolean): { key: string; value: string | number }[] {
  const out: { key: string; value: string | number }[] = [];
  for (const p of PROVIDERS) {
    out.push({ key: PARAM.token[p], value: c.tokens[p] ?? '' });
    out.push({ key: PARAM.endpoint[p], value: c.endpoints?.[p] ?? '' });
  }
  out.push({ key: PARAM.maxAgeMinutes, value: c.maxAgeMinutes });
  if (withSecret) out.push({ key: PARAM.secret, value: c.secret ?? '' });
  return out;
}

export function str(v: unknown): string {
  return typeof v === 'string' ? v.trim() : '';
}

/** Every secret value among the parameters, for redacting whatever an action returns. */
export function secretsOf(params: Params): string[] {
  return [...PROVIDERS.map((p) => str(params[PARAM.token[p]])), str(params[PARAM.secret])].filter(Boolean);
}

export function maxAgeOf(params: Params): number {
  const n = Number(params[PARAM.maxAgeMinutes]);
  const { min, max } = BOUNDS.maxAgeMinutes;
  return Number.isFinite(n) && n >= min && n <= max ? n : DEFAULTS.maxAgeMinutes;
}

/** One client per provider that has a token bound. */
export function providersOf(params: Params): CloudProvider[] {
  return PROVIDERS.filter((p) => str(params[PARAM.token[p]])).map((p) =>
    createProvider(p, {
      token: str(params[PARAM.token[p]]),
      ...(str(params[PARAM.endpoint[p]]) ? { endpoint: str(params[PARAM.endpoint[p]]) } : {}),
      // The platform's timeout bounds the whole activation: fewer, shorter attempts than a desktop client.
      retry: { retries: 2, timeoutMs: 15_000, maxRateLimitWaitMs: 10_000 },
    }),
  );
}
