// One error shape for both clients, and the retry rules: back off on 429 / 5xx / network failures, wait for the
// rate-limit reset the cloud announces, and give up with the time to wait when that is too long. Creates are not
// retried here (see create.ts): only requests that are safe to repeat go through withRetry.

import type { ProviderId } from './types';

export type FailureKind = 'http' | 'network' | 'timeout';

export class ApiError extends Error {
  constructor(
    readonly provider: ProviderId,
    readonly kind: FailureKind,
    message: string,
    readonly status?: number,
    /** DigitalOcean `id` / Hetzner `error.code`. */
    readonly code?: string,
    /** Lower-case header names. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface RetryOptions {
  /** Attempts after the first one. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** The longest wait for a rate limit to recover; longer ones fail at once, saying how long to wait. */
  maxRateLimitWaitMs: number;
  /** Per request. */
  timeoutMs: number;
  /** Injectable so tests neither wait nor depend on timing. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export const DEFAULT_RETRY: RetryOptions = {
  retries: 4,
  baseDelayMs: 500,
  maxDelayMs: 8_000,
  maxRateLimitWaitMs: 60_000,
  timeoutMs: 30_000,
  sleep,
};

export function retryOptions(partial?: Partial<RetryOptions>): RetryOptions {
  return { ...DEFAULT_RETRY, ...Object.fromEntries(Object.entries(partial ?? {}).filter(([, v]) => v !== undefined)) };
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(t);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}

/** The request may not have been processed, or was refused for now: repeating it can succeed. */
export function isTransient(e: unknown): e is ApiError {
  if (!(e instanceof ApiError)) return false;
  if (e.kind !== 'http') return true;
  const s = e.status ?? 0;
  return s === 429 || s >= 500 || (s === 409 && e.code === 'conflict') || s === 423;
}

/** The request may have had its effect although no answer says so. */
export function isLostAnswer(e: unknown): boolean {
  return e instanceof ApiError && (e.kind !== 'http' || (e.status ?? 0) >= 500);
}

export class RateLimited extends Error {
  constructor(
    readonly provider: ProviderId,
    readonly waitMs: number,
  ) {
    super(`rate limited for ${Math.ceil(waitMs / 1000)} s`);
    this.name = 'RateLimited';
  }
}

/**
 * How long the cloud asks us to wait, from its own headers and its own clock (the `Date` header), so a skewed local
 * clock does not matter. DigitalOcean: `retry-after` (burst limit) or `ratelimit-reset`, the epoch second when the
 * oldest request expires. Hetzner: `RateLimit-Reset` is when the whole budget is back, and it refills evenly, so one
 * request is free after (reset − now) / (limit − remaining).
 */
export function rateLimitWaitMs(provider: ProviderId, headers: Readonly<Record<string, string>>): number | undefined {
  const serverNow = Date.parse(headers['date'] ?? '');
  const now = Number.isNaN(serverNow) ? Date.now() : serverNow;
  const retryAfter = Number(headers['retry-after']);
  if (headers['retry-after'] !== undefined && Number.isFinite(retryAfter)) return Math.max(0, retryAfter * 1000);
  const reset = Number(headers['ratelimit-reset']);
  if (headers['ratelimit-reset'] === undefined || !Number.isFinite(reset)) return undefined;
  const untilReset = Math.max(0, reset * 1000 - now);
  if (provider === 'hetzner') {
    const limit = Number(headers['ratelimit-limit']);
    const remaining = Number(headers['ratelimit-remaining']);
    const missing = Number.isFinite(limit) && Number.isFinite(remaining) ? Math.max(1, limit - remaining) : 1;
    return Math.ceil(untilReset / missing);
  }
  return untilReset;
}

/** The wait before attempt `attempt + 1`; throws RateLimited when the cloud asks for more than we accept to wait. */
export function delayFor(e: ApiError, attempt: number, o: RetryOptions): number {
  const backoff = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** attempt);
  if (e.status === 429) {
    const wait = rateLimitWaitMs(e.provider, e.headers);
    if (wait !== undefined) {
      if (wait > o.maxRateLimitWaitMs) throw new RateLimited(e.provider, wait);
      return Math.max(wait, o.baseDelayMs);
    }
  }
  // Equal jitter: two windows retrying the same failure do not hammer in step.
  return backoff / 2 + Math.random() * (backoff / 2);
}

export async function withRetry<T>(fn: () => Promise<T>, o: RetryOptions, signal?: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (signal?.aborted || !isTransient(e) || attempt >= o.retries) throw e;
      await o.sleep(delayFor(e, attempt, o), signal);
    }
  }
}
