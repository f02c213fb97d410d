// Shared bits for the emulator's own tests: real clients pointed at an emulator, polling, and the cleanliness check.
import * as assert from 'node:assert/strict';
import { createApiClient } from 'dots-wrapper';
import createClient from 'openapi-fetch';
import type { paths } from '../../../src/providers/hetzner/schema';
import type { Emulator } from '../../fixtures/emulator';

export function dots(emu: Emulator, token = 'do-test-token') {
  return createApiClient({ endpoint: emu.doUrl, token, requestTimeoutInMs: 5000 });
}

export function hcloud(emu: Emulator, token = 'hcloud-test-token') {
  return createClient<paths>({ baseUrl: emu.hetznerUrl, headers: { Authorization: `Bearer ${token}` } });
}

/** Raw request with a token, for what the clients hide (headers, faults, off-spec bodies). */
export function raw(url: string, init: RequestInit & { token?: string } = {}): Promise<Response> {
  const { token = 'raw-token', headers, ...rest } = init;
  return fetch(url, {
    ...rest,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...(headers ?? {}) },
  });
}

export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every test ends with this: the emulator saw no off-spec traffic and had no internal failure. */
export function assertClean(emu: Emulator): void {
  assert.deepEqual(emu.violations, [], 'spec violations');
  assert.deepEqual(emu.errors, [], 'emulator errors');
}

/** The status of an axios (dots-wrapper) rejection. */
export async function doStatus(p: Promise<unknown>): Promise<{ status: number; data: { id: string; message: string } }> {
  try {
    await p;
  } catch (e) {
    const r = (e as { response?: { status: number; data: { id: string; message: string } } }).response;
    if (r) return r;
    throw e;
  }
  throw new Error('expected the request to fail');
}
