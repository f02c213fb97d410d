// The user-data port: what the machine is told at create, following the image's contract (src/agent/user-data.ts):
// the pinned host key, the login key, the cache to substitute from (never a credential), what to run, and the
// reaper's per-machine destroy-self code.

import { UserError } from '../base/errors';
import { buildUserData, serializeUserData, type BootTarget } from '../agent/user-data';
import { reaperUserData } from '../cloud-reaper/link';
import { substituterUrl } from '../nix/s3';
import { transferOf, trustedPublicKeyOf } from './cache-access';
import type { PortsOptions } from './port-options';
import type { Payload, RunPorts } from './types';

/** The program a binary payload names: an absolute path inside the store path, or a path relative to it. */
export function binaryPathOf(p: Extract<Payload, { kind: 'binary' }>): string {
  return p.binary.startsWith('/') ? p.binary : `${p.storePath}/${p.binary.replace(/^\.?\/+/, '')}`;
}

export function userDataPort(o: Pick<PortsOptions, 'settings' | 'reaper'>): RunPorts['userData'] {
  return ({ payload, storePath, keys, cachePrivate, transfer, runId }) => {
    const overSsh = (transfer ?? transferOf(o.settings)) === 'ssh';
    let target: BootTarget;
    if (payload.kind === 'bare') target = { kind: 'bare' };
    else if (payload.kind === 'binary') target = { kind: 'binary', path: binaryPathOf(payload) };
    else if (storePath) target = { kind: 'toplevel', path: storePath };
    else throw new UserError('Nothing to run: no store path was built or given.');
    const cache =
      target.kind === 'bare' || overSsh ? undefined : { url: substituterUrl(o.settings.cache), trustedPublicKey: trustedPublicKeyOf(o.settings), private: cachePrivate };
    return serializeUserData(
      buildUserData({
        hostKey: { private: keys.hostPrivateKey, public: keys.hostPublicKey },
        authorizedKeys: [keys.loginPublicKey],
        ...(cache ? { cache } : {}),
        target,
        closure: overSsh ? 'ssh' : 'cache',
        ...(o.reaper && runId ? { reaper: reaperUserData(o.reaper, runId) } : {}),
      }),
    );
  };
}
