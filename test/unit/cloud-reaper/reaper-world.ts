// Shared by the cloud reaper tests: the emulator (clouds and DigitalOcean Functions), the reaper deployed into it
// with the real action bundles (dist/reaper/, from `npm run build`), and helpers to call destroy-self as a machine
// does: a POST to the web action with X-Require-Whisk-Auth and a JSON body.
import type { TestContext } from 'node:test';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { createProvider } from '../../../src/providers';
import type { CloudProvider, ProviderId } from '../../../src/providers/types';
import { deployReaper, type ReaperDeployOptions, type ReaperDeployment } from '../../../src/cloud-reaper/deploy';

export const TOKEN_DO = 'do-emulator-token-0123456789abcdef';
export const TOKEN_HZ = 'hz-emulator-token-fedcba9876543210';
export const FAST = { retries: 2, baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 20_000 };

export async function reaperEmulator(t: TestContext): Promise<Emulator> {
  const emu = await startEmulator({ delays: { doActiveMs: 30, hetznerStartingMs: 15, hetznerRunningMs: 15, actionMs: 20, deleteMs: 0 } });
  t.after(() => emu.close());
  return emu;
}

export function endpoints(emu: Emulator): Record<ProviderId, string> {
  return { digitalocean: emu.doUrl, hetzner: emu.hetznerUrl };
}

export function deploy(emu: Emulator, over: Partial<ReaperDeployOptions> = {}): Promise<ReaperDeployment> {
  return deployReaper({
    digitaloceanToken: TOKEN_DO,
    hetznerToken: TOKEN_HZ,
    endpoints: endpoints(emu),
    intervalMinutes: 20,
    maxAgeMinutes: 60,
    retry: FAST,
    ...over,
  });
}

export function cloud(emu: Emulator, id: ProviderId): CloudProvider {
  return createProvider(id, { token: id === 'digitalocean' ? TOKEN_DO : TOKEN_HZ, endpoint: endpoints(emu)[id], retry: FAST });
}

export function request(id: ProviderId, deadline: Date, runId: string) {
  return {
    region: id === 'digitalocean' ? 'ams3' : 'fsn1',
    size: id === 'digitalocean' ? 's-1vcpu-1gb' : 'cx22',
    image: id === 'digitalocean' ? 'debian-12-x64' : 'debian-12',
    userData: '{"version":1,"authorizedKeys":[]}',
    deadline,
    runId,
  };
}

export interface SelfAnswer {
  status: number;
  body: { ok?: boolean; destroyed?: { name: string }[]; error?: string; due?: boolean };
  text: string;
}

/** destroy-self as a machine's agent calls it (`auth` null: without the X-Require-Whisk-Auth header). */
export async function callDestroySelf(
  d: Pick<ReaperDeployment, 'destroySelfUrl' | 'whiskAuth'>,
  body: Record<string, unknown>,
  auth: string | null = d.whiskAuth,
): Promise<SelfAnswer> {
  const res = await fetch(d.destroySelfUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(auth === null ? {} : { 'X-Require-Whisk-Auth': auth }) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: SelfAnswer['body'] = {};
  try {
    parsed = JSON.parse(text) as SelfAnswer['body'];
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed, text };
}
