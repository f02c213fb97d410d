// What both clients are built from, and small helpers they share.

import type { RetryOptions } from './retry';

export interface ProviderOptions {
  token: string;
  /** API base URL; empty/undefined = the real cloud. `/v2` (DigitalOcean) or `/v1` (Hetzner) is added if missing. */
  endpoint?: string;
  /** Hetzner only (dots-wrapper uses axios): a fetch to send requests with. */
  fetch?: typeof globalThis.fetch;
  retry?: Partial<RetryOptions>;
  /** Page size for lists; the clouds' maximum by default (DigitalOcean 200, Hetzner 50). */
  pageSize?: number;
}

export function apiBase(endpoint: string | undefined, fallback: string, version: 'v1' | 'v2'): string {
  const base = (endpoint?.trim() || fallback).replace(/\/+$/, '');
  return base.endsWith(`/${version}`) ? base : `${base}/${version}`;
}

/** Settles with `p`, or rejects as soon as `signal` aborts (for clients that take no signal). */
export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => undefined); // nobody waits for it any more: its failure must not surface as an unhandled rejection
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', abort), resolve(v)),
      (e) => (signal.removeEventListener('abort', abort), reject(e)),
    );
  });
}

/** Any header container (Headers, AxiosHeaders, plain object) → lower-case name → string. */
export function headerRecord(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h || typeof h !== 'object') return out;
  if (typeof (h as Headers).forEach === 'function' && typeof (h as Headers).get === 'function') {
    (h as Headers).forEach((v, k) => (out[k.toLowerCase()] = v));
    return out;
  }
  const plain = typeof (h as { toJSON?: () => unknown }).toJSON === 'function' ? (h as { toJSON: () => unknown }).toJSON() : h;
  for (const [k, v] of Object.entries(plain as Record<string, unknown>)) {
    if (v !== undefined && v !== null) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

/** The server's clock from a `Date` header; the local clock only if the header is missing or unreadable. */
export function serverDate(headers: Readonly<Record<string, string>>): Date {
  const t = Date.parse(headers['date'] ?? '');
  return Number.isNaN(t) ? new Date() : new Date(t);
}
