// What the deploy tests and the deploy bench hand deployToMachine: the world's cache, keys and Nix, and the
// machine-side script from this checkout; a request for one of the deploy flake's configurations.
import path from 'node:path';
import type { DeployOptions, DeployRequest } from '../../../src/deploy';
import { cacheSettings, type CacheWorld } from '../run/cache-world';

const DEPLOY_SCRIPT = path.resolve(__dirname, '../../../../nix/agent/thebacknd-deploy.sh');

export function deployOptions(cw: CacheWorld, flakeDir: string, over: Partial<DeployOptions> = {}): DeployOptions {
  return {
    settings: cacheSettings(cw),
    keysRoot: cw.w.keysRoot,
    cacheCredentials: cw.cache.s3.credentials,
    flakeDir,
    nix: { env: cw.w.env },
    // The test hosts have no systemd: the worker detaches with setsid, as the script does without systemd.
    deployCommand: `THEBACKND_DETACH=setsid bash ${DEPLOY_SCRIPT}`,
    sshTimeoutMs: 60_000,
    sshRetryMs: 200,
    ...over,
  };
}

/** Deploys the flake's `svc` configuration through the cache, confirmed within 30 s. */
export function deployRequest(machine: DeployRequest['machine'], flakeDir: string, over: Partial<DeployRequest> = {}): DeployRequest {
  return { machine, payload: { kind: 'configuration', flakeRef: flakeDir, name: 'svc' }, transfer: 'cache', confirmTimeoutSeconds: 30, ...over };
}
