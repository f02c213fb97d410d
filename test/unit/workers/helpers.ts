// Shared by the worker tests: the cloud emulator whose machines are real test hosts (network namespaces with sshd on
// port 22 and Debian's Nix on a private, empty /nix), a test flake of plain derivations, and checks that nothing is
// left behind.
//
// Remote builds are real: each test host's processes see their own /nix bound over /nix (see
// test/fixtures/testhost/host.ts), so the worker's `nix-store --serve` builds into a store separate from this
// machine's, and the results come back over SSH. Each test host gets root's Nix configuration
// (test/fixtures/testhost/root-nix.ts).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { startEmulator, type Emulator, type HostHookMachine } from '../../fixtures/emulator';
import { seededPlacement } from '../../fixtures/emulator/seed';
import { mkPlainDerivation } from '../../fixtures/plain-derivation';
import { testHostHook, writeRootNixConf, type TestHostHook } from '../../fixtures/testhost';
import { ip } from '../../fixtures/testhost/net';
import { createProvider } from '../../../src/providers';
import type { CloudProvider, ProviderId } from '../../../src/providers/types';
import { listMachineKeyIds } from '../../../src/ssh/keys';
import type { WorkerPlacement } from '../../../src/workers';

export const TOKEN = 'emulator-token-0123456789abcdef';

/** The seeded placements, with a bigger droplet for builds. */
export const PLACEMENT: Record<ProviderId, WorkerPlacement> = {
  hetzner: seededPlacement('hetzner'),
  digitalocean: { ...seededPlacement('digitalocean'), size: 's-2vcpu-2gb' },
};

export interface WorkerWorld {
  emu: Emulator;
  hook: TestHostHook;
  /** Namespaces of every host created so far. */
  namespaces: string[];
  storageDir: string;
  /** A private HOME and Nix settings for this machine's nix (root, no daemon). */
  env: NodeJS.ProcessEnv;
  dir: string;
  provider(id: ProviderId): CloudProvider;
  /** Machines the emulator still holds for a provider (deleted droplets excluded). */
  alive(id: ProviderId): number;
  /** Asserts every worker, host, namespace and key is gone. */
  assertNothingLeft(id: ProviderId): Promise<void>;
}

/** A fresh emulator with test hosts behind it; everything is removed after the test, even when it fails. */
export async function workerWorld(t: TestContext): Promise<WorkerWorld> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-workers-'));
  const emu = await startEmulator({ delays: { doActiveMs: 50, hetznerStartingMs: 25, hetznerRunningMs: 25, actionMs: 20, deleteMs: 0 } });
  const inner = testHostHook();
  const namespaces: string[] = [];
  const hook: TestHostHook = {
    ...inner,
    async onCreate(m: HostHookMachine) {
      const addrs = await inner.onCreate(m);
      const h = inner.host(m.provider, m.id);
      if (h) {
        namespaces.push(h.ns);
        writeRootNixConf(h);
      }
      return addrs;
    },
  };
  emu.setHostHook(hook);
  t.after(async () => {
    await inner.closeAll();
    await emu.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const home = path.join(dir, 'home');
  fs.mkdirSync(home);
  const storageDir = path.join(dir, 'storage');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    XDG_CACHE_HOME: path.join(home, 'cache'),
    NIX_CONFIG: 'build-users-group =\nsubstituters =\nsandbox = false\nexperimental-features = nix-command flakes',
  };
  const provider = (id: ProviderId): CloudProvider => createProvider(id, { token: TOKEN, endpoint: id === 'digitalocean' ? emu.doUrl : emu.hetznerUrl });
  const alive = (id: ProviderId): number => (id === 'hetzner' ? emu.state.servers.size : [...emu.state.droplets.values()].filter((d) => !d.deleting).length);
  return {
    emu,
    hook,
    namespaces,
    storageDir,
    env,
    dir,
    provider,
    alive,
    async assertNothingLeft(id) {
      assert.equal(alive(id), 0, 'no worker is left at the provider');
      assert.equal(inner.hosts.size, 0, 'every test host was deleted through the API');
      const present = (await ip('netns', 'list')).split('\n').map((l) => l.split(' ')[0]);
      for (const ns of namespaces) assert.ok(!present.includes(ns), `namespace ${ns} is gone`);
      assert.deepEqual(await listMachineKeyIds(storageDir), [], "the workers' keys are removed");
      assert.deepEqual(emu.violations, [], 'requests stay within the official specs');
      assert.deepEqual(emu.errors, [], 'the emulator saw no failure');
    },
  };
}

export interface TestFlake {
  dir: string;
  /** `path:<dir>#<attr>` */
  installable(attr: string): string;
}

/**
 * Plain derivations (no nixpkgs offline): three leaves that each take a few seconds, so that Nix hands them out
 * at the same time and both workers get some, and `all`, which depends on the three. `fails` exits 1; `slow` sleeps.
 */
export function testFlake(parent: string, nonce: string): TestFlake {
  const dir = path.join(parent, `flake-${nonce}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'flake.nix'),
    `{
  outputs = { self }: let
${mkPlainDerivation(`nonce = "${nonce}";`)}
    leaf = n: mk "leaf-\${n}" "echo building leaf \${n}; sleep 3; echo leaf \${n} > $out";
    a = leaf "a"; b = leaf "b"; c = leaf "c";
  in {
    packages.x86_64-linux = {
      all = mk "all" "cat \${a} \${b} \${c} > $out";
      quick = mk "quick" "echo quick > $out";
      fails = mk "fails" "echo deliberate failure; cat \${a} > /dev/null; exit 1";
      slow = mk "slow" "echo slow build starts; sleep 300; touch $out";
    };
  };
}
`,
  );
  return { dir, installable: (attr) => `path:${dir}#${attr}` };
}
