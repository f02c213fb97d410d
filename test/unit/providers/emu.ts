// Shared by the provider tests: a fresh emulator per test (closed even when the test fails), the real clients
// pointed at it, and retries that record their waits instead of sleeping them.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../fixtures/emulator';
import { createProvider } from '../../../src/providers';
import type { RetryOptions } from '../../../src/providers/retry';
import type { CloudProvider, CreateRequest, ProviderId } from '../../../src/providers/types';

export const TOKEN = 'emulator-token-0123456789abcdef';
export const IDS: ProviderId[] = ['digitalocean', 'hetzner'];

/** Small lifecycle delays keep the tests fast; specs are checked on every request (the emulator's default). */
export async function emulator(t: TestContext, opts: EmulatorOptions = {}): Promise<Emulator> {
  const emu = await startEmulator({ delays: { doActiveMs: 30, hetznerStartingMs: 15, hetznerRunningMs: 15, actionMs: 20, deleteMs: 0 }, ...opts });
  t.after(() => emu.close());
  return emu;
}

export function assertClean(emu: Emulator): void {
  assert.deepEqual(emu.violations, [], 'requests and answers stay within the official specs');
  assert.deepEqual(emu.errors, [], 'the emulator saw no internal failure');
}

export interface Waits {
  retry: Partial<RetryOptions>;
  /** Every wait the client asked for, in ms. */
  waits: number[];
}

/** Retries that note their waits and sleep at most 5 ms, so a 60 s rate-limit reset costs nothing. */
export function fastRetry(over: Partial<RetryOptions> = {}): Waits {
  const waits: number[] = [];
  return {
    waits,
    retry: {
      retries: 4,
      baseDelayMs: 5,
      maxDelayMs: 20,
      timeoutMs: 10_000,
      sleep: (ms) => {
        waits.push(ms);
        return new Promise((r) => setTimeout(r, Math.min(ms, 5)));
      },
      ...over,
    },
  };
}

export function client(emu: Emulator, id: ProviderId, opts: { token?: string; retry?: Partial<RetryOptions>; pageSize?: number } = {}): CloudProvider {
  return createProvider(id, {
    token: opts.token ?? TOKEN,
    endpoint: id === 'digitalocean' ? emu.doUrl : emu.hetznerUrl,
    retry: opts.retry ?? fastRetry().retry,
    ...(opts.pageSize ? { pageSize: opts.pageSize } : {}),
  });
}

/** A valid create request for the emulated catalog of each cloud. */
export function request(id: ProviderId, over: Partial<CreateRequest> = {}): CreateRequest {
  return {
    region: id === 'digitalocean' ? 'ams3' : 'fsn1',
    size: id === 'digitalocean' ? 's-1vcpu-1gb' : 'cx22',
    image: id === 'digitalocean' ? 'debian-12-x64' : 'debian-12',
    userData: '{"thebacknd":1}',
    deadline: new Date(Date.now() + 3_600_000),
    ...over,
  };
}

/** Adds a machine behind the API's back: tagged (as thebacknd would have) or not (someone else's). */
export function seed(emu: Emulator, id: ProviderId, o: { name: string; tagged: boolean; deadline?: string; createdAt?: string }): string {
  if (id === 'digitalocean') {
    const tags = o.tagged ? ['thebacknd', ...(o.deadline ? [`thebacknd-deadline:${o.deadline}`] : [])] : ['web'];
    return String(emu.addDroplet({ name: o.name, tags, region: 'ams3', ...(o.createdAt ? { createdAt: o.createdAt } : {}) }).id);
  }
  const labels: Record<string, string> = o.tagged ? { thebacknd: '', ...(o.deadline ? { 'thebacknd-deadline': o.deadline } : {}) } : { env: 'prod' };
  return String(emu.addServer({ name: o.name, labels, ...(o.createdAt ? { created: o.createdAt } : {}) }).id);
}

/** Ids of the machines the emulator holds (any tag), for "did it survive" checks. */
export function existing(emu: Emulator, id: ProviderId): string[] {
  const ids = id === 'digitalocean' ? [...emu.state.droplets.values()].filter((d) => !d.deleting).map((d) => d.id) : [...emu.state.servers.keys()];
  return ids.map(String);
}

export function posts(emu: Emulator, id: ProviderId): number {
  const path = id === 'digitalocean' ? '/v2/droplets' : '/v1/servers';
  return emu.requests.filter((r) => r.method === 'POST' && r.path === path).length;
}

export interface AccountKey {
  id: number;
  name: string;
  public_key: string;
}

/** An ed25519 public key the emulated clouds accept; nobody has its private half. */
export const SOME_PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEtmqjDDGMoOLqu5VYPjMjCMqlOPZNlvx3N4c8Lo2yYx mine';

async function keyRequest(emu: Emulator, id: ProviderId, init: RequestInit = {}): Promise<{ ssh_keys?: AccountKey[]; ssh_key?: AccountKey }> {
  const url = id === 'hetzner' ? `${emu.hetznerUrl}/ssh_keys` : `${emu.doUrl}/account/keys${init.method === 'POST' ? '' : '?per_page=200'}`;
  const res = await fetch(url, { ...init, headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' } });
  return (await res.json()) as { ssh_keys?: AccountKey[]; ssh_key?: AccountKey };
}

/** The account's SSH keys (Hetzner's `/ssh_keys`, DigitalOcean's `/account/keys`), asked behind the client's back. */
export async function accountKeys(emu: Emulator, id: ProviderId): Promise<AccountKey[]> {
  return (await keyRequest(emu, id)).ssh_keys ?? [];
}

/** Adds an SSH key to the account behind the client's back, as a user would in the cloud's console. */
export async function addAccountKey(emu: Emulator, id: ProviderId, name: string, publicKey = SOME_PUBLIC_KEY): Promise<AccountKey> {
  return (await keyRequest(emu, id, { method: 'POST', body: JSON.stringify({ name, public_key: publicKey }) })).ssh_key!;
}
