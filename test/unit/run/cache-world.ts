// The run world with an S3 cache (s3rver) the test hosts substitute from, and what the Run Toplevel and deploy tests
// (and the deploy bench) build on it: settings that point at the cache, run ports on the world's cloud and Nix, a
// run request with the tests' defaults, an event recorder and a command over SSH pinned to the machine's host key.
import assert from 'node:assert/strict';
import path from 'node:path';
import { DEFAULTS, type Settings } from '../../../src/base/settings';
import type { DeployEvent } from '../../../src/deploy';
import type { ProviderId } from '../../../src/providers/types';
import { createRunPorts, type Payload, type PortsOptions, type RunEvent, type RunRequest } from '../../../src/run';
import { requireMachineKeys } from '../../../src/ssh/keys';
import { SshSession, sshTargetFor } from '../../../src/ssh/session';
import { buildTestClosures, startHostCache, type HostCache, type TestClosures } from '../../fixtures/testhost';
import { PLACEMENT, startWorld, type World } from './world';

export interface CacheWorld {
  w: World;
  cache: HostCache;
  /** The test closures, built for their signing key (and, where a test uploads them, their store paths). */
  closures: TestClosures;
  signingKeyFile: string;
  close(): Promise<void>;
}

export async function startCacheWorld(opts: Parameters<typeof startWorld>[0] = {}): Promise<CacheWorld> {
  const w = await startWorld(opts);
  let closures: TestClosures;
  let cache: HostCache;
  try {
    closures = await buildTestClosures(path.join(w.dir, 'closures'));
    cache = await startHostCache();
  } catch (e) {
    await w.close();
    throw e;
  }
  const signingKeyFile = path.join(w.dir, 'closures', 'secret.key');
  return {
    w,
    cache,
    closures,
    signingKeyFile,
    async close() {
      await w.close();
      await cache.close();
    },
  };
}

/** The settings of a user whose cache is the world's (or another). No trusted key set: machines get the one derived from the signing key. */
export function cacheSettings(cw: Pick<CacheWorld, 'cache' | 'signingKeyFile'>, over: Partial<Settings['cache']> = {}): Settings {
  return { ...DEFAULTS, cache: { ...cw.cache.s3.cache({ signingKeyFile: cw.signingKeyFile }), publicUrl: cw.cache.url, ...over } };
}

/** Run Toplevel's real ports on the world's cloud, cache, keys and Nix, building from `flakeDir`. */
export function worldPorts(cw: CacheWorld, provider: ProviderId, flakeDir: string, over: Partial<PortsOptions> = {}) {
  return createRunPorts({
    provider: cw.w.provider(provider),
    settings: cacheSettings(cw),
    keysRoot: cw.w.keysRoot,
    cacheCredentials: cw.cache.s3.credentials,
    flakeDir,
    nix: { env: cw.w.env },
    sshTimeoutMs: 60_000,
    sshRetryMs: 200,
    ...over,
  });
}

/** A run through the cache that destroys its machine on failure, polling every 100 ms. */
export function runRequest(provider: ProviderId, payload: Payload, over: Partial<RunRequest> = {}): RunRequest {
  return { payload, placement: PLACEMENT[provider], maxAgeMinutes: 30, transfer: 'cache', cachePrivate: false, onFailure: 'destroy', pollMs: 100, ...over };
}

/** Records a run's or a deploy's events; its stages and log lines in order. */
export function eventRecorder<E extends RunEvent | DeployEvent>() {
  const events: E[] = [];
  return {
    events,
    emit: (e: E) => void events.push(e),
    stages: () => events.flatMap((e: RunEvent | DeployEvent) => (e.type === 'stage' ? [e.stage] : [])),
    log: () => events.flatMap((e: RunEvent | DeployEvent) => (e.type === 'log' ? [e.line] : [])),
  };
}

/** A command's stdout over SSH with the machine's keys (any other host key is refused); it must exit 0. */
export async function sshOut(w: World, runId: string, ip: string, command: string): Promise<string> {
  const session = await SshSession.connect(await sshTargetFor(await requireMachineKeys(w.keysRoot, runId), ip));
  try {
    const r = await session.run(command);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  } finally {
    session.close();
  }
}
