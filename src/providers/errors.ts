// Cloud failures turned into sentences a user can act on. Nothing here echoes a token: messages are built from the
// status, the cloud's error code and message, and are redacted with the token once more on the way out.

import { UserError, isAbort, redact } from '../base/errors';
import { PROVIDER_LABEL, TOKEN_ENV } from '../base/tokens';
import { ApiError, RateLimited } from './retry';
import type { CreateRequest, Image, ProviderId, Region, Size } from './types';

export function tokenRejected(provider: ProviderId, status: number, readOnly = false): UserError {
  const label = PROVIDER_LABEL[provider];
  const what = readOnly ? 'is read-only (it needs write access)' : 'was rejected';
  return new UserError(`The ${label} token ${what} (HTTP ${status}): set a valid one with "Thebacknd: Set Token…" or ${TOKEN_ENV[provider]}.`, { kind: 'setToken', provider });
}

export function isAuthError(e: ApiError): boolean {
  if (e.kind !== 'http') return false;
  if (e.status === 401) return true;
  return e.status === 403 && !isLimitError(e) && e.code !== 'maintenance';
}

export function isLimitError(e: ApiError): boolean {
  if (e.kind !== 'http') return false;
  if (e.code === 'resource_limit_exceeded') return true;
  return (e.status === 403 || e.status === 422) && /\blimit|quota/i.test(e.message);
}

/** Any failure → an Error safe to show; aborts pass through untouched so callers can tell them apart. */
export function toUserError(provider: ProviderId, err: unknown, opts: { endpoint?: string; secrets?: string[] } = {}): Error {
  if (err instanceof UserError || isAbort(err)) return err as Error;
  const label = PROVIDER_LABEL[provider];
  const clean = (s: string) => redact(s, opts.secrets ?? []);
  if (err instanceof RateLimited) {
    return new UserError(`${label} rate limit reached: try again in ${Math.ceil(err.waitMs / 1000)} s.`, { kind: 'retry', provider });
  }
  if (!(err instanceof ApiError)) return new UserError(clean(`${label}: ${firstLine(err)}`));
  const where = opts.endpoint ? ` at ${opts.endpoint}` : '';
  if (err.kind === 'network') {
    const hint = opts.endpoint ? ' Is the endpoint right, and is it running?' : ' Check the network connection.';
    return new UserError(clean(`Could not reach the ${label} API${where} (${err.message}).${hint}`), { kind: 'retry', provider });
  }
  if (err.kind === 'timeout') {
    return new UserError(clean(`The ${label} API${where} did not answer in time; try again.`), { kind: 'retry', provider });
  }
  const status = err.status ?? 0;
  if (isAuthError(err)) return tokenRejected(provider, status, err.code === 'token_readonly');
  if (isLimitError(err)) {
    return new UserError(clean(`${label} refused: an account limit is reached (${err.message}). Destroy machines you no longer need, or ask ${label} to raise the limit.`));
  }
  if (status === 429) return new UserError(`${label} rate limit reached: try again in a minute.`, { kind: 'retry', provider });
  if (status >= 500) {
    return new UserError(clean(`The ${label} API failed (HTTP ${status}${err.message ? `: ${err.message}` : ''}); try again later.`), {
      kind: 'retry',
      provider,
    });
  }
  return new UserError(clean(`${label} refused the request (HTTP ${status}${err.code ? ` ${err.code}` : ''}): ${err.message}`));
}

/** What the create request names that the cloud does not offer, with the valid choices. Undefined if all looks valid. */
export function explainInvalidCreate(
  provider: ProviderId,
  req: Pick<CreateRequest, 'region' | 'size' | 'image'>,
  catalog: { regions: Region[]; sizes: Size[]; images: Image[] },
): UserError | undefined {
  const label = PROVIDER_LABEL[provider];
  const fix = { kind: 'openSettings' as const, setting: `thebacknd.${provider}` };
  const regions = catalog.regions.filter((r) => r.available);
  if (!regions.some((r) => r.slug === req.region)) {
    return new UserError(`${label} has no region "${req.region}". Valid regions: ${list(regions.map((r) => r.slug))}.`, fix);
  }
  const size = catalog.sizes.find((s) => s.slug === req.size);
  if (!size) {
    const here = catalog.sizes.filter((s) => s.regions.includes(req.region)).map((s) => s.slug);
    return new UserError(`${label} has no size "${req.size}". Valid sizes in ${req.region}: ${list(here)}.`, fix);
  }
  if (size.regions.length && !size.regions.includes(req.region)) {
    return new UserError(`${label} size "${req.size}" is not offered in ${req.region}. It is in: ${list(size.regions)}.`, fix);
  }
  const image = catalog.images.find((i) => i.id === req.image || i.name === req.image);
  if (!image) {
    const own = catalog.images.filter((i) => i.kind === 'custom' || i.kind === 'snapshot');
    const shown = (own.length ? own : catalog.images).map((i) => (i.id === i.name ? i.id : `${i.id} (${i.name})`));
    return new UserError(`${label} has no image "${req.image}". Valid images: ${list(shown)}.`, fix);
  }
  return undefined;
}

function list(items: string[], max = 25): string {
  if (!items.length) return '(none)';
  const shown = items.slice(0, max).join(', ');
  return items.length > max ? `${shown}, … (${items.length - max} more)` : shown;
}

function firstLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0] ?? m;
}
