// Shared by the Run Toplevel end-to-end tests: the cloud emulator whose machines are real test hosts (network
// namespaces running the metadata service, the boot agent and sshd on port 22, with their own empty /nix), this
// machine's real Nix, a tiny flake whose toplevel writes a marker when switched, and checks that nothing is left.
// Each test host gets root's Nix configuration (test/fixtures/testhost/root-nix.ts).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { startEmulator, type Emulator, type HostHookMachine } from '../../fixtures/emulator';
import { seededPlacement } from '../../fixtures/emulator/seed';
import { mkPlainDerivation } from '../../fixtures/plain-derivation';
import { NIX_ENV, testHostHook, writeRootNixConf, type TestHost, type TestHostHook } from '../../fixtures/testhost';
import { ip } from '../../fixtures/testhost/net';
import { until } from '../../fixtures/wait';
import { generateEd25519 } from '../../../src/base/ed25519';
import { listMachineKeyIds } from '../../../src/ssh/keys';
import { createProvider } from '../../../src/providers';
import type { CloudProvider, Machine, ProviderId } from '../../../src/providers/types';
import { newRunId } from '../../../src/run/orchestrate';
import type { Placement } from '../../../src/run/types';

export { until };

export const TOKEN = 'emulator-token-0123456789abcdef';

export const PLACEMENT: Record<ProviderId, Placement> = { hetzner: seededPlacement('hetzner'), digitalocean: seededPlacement('digitalocean') };

export interface World {
  emu: Emulator;
  hook: TestHostHook;
  dir: string;
  /** Where per-machine keys live (`createRunPorts({ keysRoot })`). */
  keysRoot: string;
  /** This machine's Nix as root without build users, with a private cache folder. */
  env: NodeJS.ProcessEnv;
  provider(id: ProviderId): CloudProvider;
  /** The next machine created boots with another host key than its user-data names: someone else answers. */
  impersonateNext(): void;
  /** Every test host created, by provider and id. */
  hosts: Map<string, TestHost>;
  hostOf(m: Pick<Machine, 'provider' | 'id'>): TestHost | undefined;
  /** The user-data each machine was created with, as the emulator received it. */
  userDataOf(m: Pick<Machine, 'provider' | 'id'>): string;
  /** Every machine the emulator holds that is not being deleted. */
  alive(): Promise<Machine[]>;
  close(): Promise<void>;
}

/** `checkinMs`: hosts run the agent's check-in (destroy-self "only if due") this often, as the image's timer does. */
export async function startWorld(opts: { checkinMs?: number } = {}): Promise<World> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-run-e2e-'));
  const emu = await startEmulator({ delays: { doActiveMs: 300, hetznerStartingMs: 150, hetznerRunningMs: 150, actionMs: 20, deleteMs: 0 } });
  const inner = testHostHook({ onPowerOff: (m) => emu.powerOff(m.provider, m.id), ...(opts.checkinMs ? { checkinMs: opts.checkinMs } : {}) });
  const hosts = new Map<string, TestHost>();
  let impersonate = false;
  const hook: TestHostHook = {
    ...inner,
    async onCreate(m: HostHookMachine) {
      let userData = m.userData;
      if (impersonate) {
        impersonate = false;
        const data = JSON.parse(userData) as { hostKey: { private: string; public: string } };
        const other = generateEd25519('impostor');
        data.hostKey = { private: other.privateKey, public: other.publicKey };
        userData = JSON.stringify(data);
      }
      const addrs = await inner.onCreate({ ...m, userData });
      const h = inner.host(m.provider, m.id);
      if (h) {
        hosts.set(`${m.provider}:${m.id}`, h);
        writeRootNixConf(h);
      }
      return addrs;
    },
  };
  emu.setHostHook(hook);
  const keysRoot = path.join(dir, 'storage');
  const env: NodeJS.ProcessEnv = { ...process.env, ...NIX_ENV, XDG_CACHE_HOME: path.join(dir, 'xdg-cache') };
  const providers = new Map<ProviderId, CloudProvider>();
  const provider = (id: ProviderId): CloudProvider => {
    let p = providers.get(id);
    if (!p) {
      p = createProvider(id, { token: TOKEN, endpoint: id === 'digitalocean' ? emu.doUrl : emu.hetznerUrl, retry: { baseDelayMs: 5, maxDelayMs: 50 } });
      providers.set(id, p);
    }
    return p;
  };
  return {
    emu,
    hook,
    dir,
    keysRoot,
    env,
    provider,
    impersonateNext: () => void (impersonate = true),
    hosts,
    hostOf: (m) => inner.host(m.provider, m.id),
    userDataOf(m) {
      const id = Number(m.id);
      const rec = m.provider === 'digitalocean' ? emu.state.droplets.get(id) : emu.state.servers.get(id);
      assert.ok(rec, `the emulator knows ${m.provider} ${m.id}`);
      return rec.userData;
    },
    async alive() {
      const ids: [ProviderId, number][] = [
        ...[...emu.state.droplets.values()].filter((d) => !d.deleting).map((d): [ProviderId, number] => ['digitalocean', d.id]),
        ...[...emu.state.servers.values()].filter((s) => s.status !== 'deleting').map((s): [ProviderId, number] => ['hetzner', s.id]),
      ];
      const out: Machine[] = [];
      for (const [p, id] of ids) {
        const m = await provider(p).get(String(id));
        if (m) out.push(m);
      }
      return out;
    },
    async close() {
      await inner.closeAll();
      await emu.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fails unless every machine left is tagged with a run id and a deadline, and none of `runIds` is left. */
export async function assertNoUnmarkedMachine(w: World, runIds: Iterable<string> = []): Promise<void> {
  const mine = new Set(runIds);
  for (const m of await w.alive()) {
    assert.ok(m.tagged !== false && m.runId && m.deadline, `${m.name} carries the tag, a run id and a deadline: ${JSON.stringify(m)}`);
    assert.ok(!mine.has(m.runId), `${m.name} (${m.runId}) was left behind`);
  }
}

/**
 * Run ids for one test. Whatever the test's outcome, its machines are destroyed (by run id, which also finds a
 * machine whose create answer was lost) and their keys removed afterwards, so one failure does not cascade.
 */
export function runIds(t: TestContext, w: World): { next(): string; all: string[] } {
  const all: string[] = [];
  t.after(async () => {
    for (const id of all) {
      for (const p of ['digitalocean', 'hetzner'] as const)
        await w
          .provider(p)
          .destroyByRunId(id)
          .catch(() => 0);
      fs.rmSync(path.join(w.keysRoot, 'machines', id), { recursive: true, force: true });
    }
  });
  return {
    all,
    next() {
      const id = newRunId();
      all.push(id);
      return id;
    },
  };
}

/** The host, namespace and keys of a machine are all gone. */
export async function assertGone(w: World, m: Pick<Machine, 'provider' | 'id' | 'runId'>, ns: string | undefined, keysRoot = w.keysRoot): Promise<void> {
  await until(`${m.provider} ${m.id} deleted`, async () => ((await w.provider(m.provider).get(m.id)) ? undefined : true));
  await until('its test host removed', async () => (w.hostOf(m) ? undefined : true));
  if (ns) assert.ok(!(await ip('netns', 'list')).includes(ns), `namespace ${ns} is gone`);
  assert.ok(m.runId && !(await listMachineKeyIds(keysRoot)).includes(m.runId), 'its keys are removed');
}

export interface TestFlake {
  dir: string;
  /** The marker file's content once the toplevel is switched to. */
  greeting: string;
}

/**
 * A flake with `nixosConfigurations.e2e.config.system.build.toplevel`: a plain derivation (no nixpkgs offline)
 * whose `bin/switch-to-configuration switch` points /run/current-system at itself and copies a greeting from
 * another store path of its closure to /root/run-e2e-marker; and `packages.x86_64-linux.job`, whose `bin/job`
 * sleeps 2 s, then prints "job done" and the greeting.
 */
export function writeFlake(parent: string, nonce: string): TestFlake {
  const dir = path.join(parent, `flake-${nonce}`);
  fs.mkdirSync(dir, { recursive: true });
  const greeting = `hello from the run e2e ${nonce}`;
  const flake = String.raw`{
  outputs = { self }: let
${mkPlainDerivation()}
    greeting = mk "run-e2e-greeting" "mkdir -p $out; echo '${greeting}' > $out/greeting";
    toplevel = mk "nixos-system-run-e2e" ''
      mkdir -p $out/bin
      cat > $out/bin/switch-to-configuration <<EOF
      #!/bin/sh
      set -e
      [ "\$1" = switch ] || { echo "unsupported action \$1" >&2; exit 2; }
      ln -sfn $out /run/current-system
      cp ${'$'}{greeting}/greeting /root/run-e2e-marker
      echo "activated $out"
      EOF
      chmod +x $out/bin/switch-to-configuration
    '';
    job = mk "run-e2e-job" ''
      mkdir -p $out/bin
      cat > $out/bin/job <<EOF
      #!/bin/sh
      sleep 2
      echo "job done"
      cat ${'$'}{greeting}/greeting
      EOF
      chmod +x $out/bin/job
    '';
  in {
    nixosConfigurations.e2e = { config.system.build.toplevel = toplevel; };
    packages.x86_64-linux.job = job;
  };
}
`;
  fs.writeFileSync(path.join(dir, 'flake.nix'), flake);
  return { dir, greeting: `${greeting}\n` };
}
