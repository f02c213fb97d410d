// The ports this machine's Nix serves: build the installable, sign its closure, push it to the binary cache (with
// progress in words). The SSH copy of a closure is the machine ports' (machine-ports.ts): it ends on the machine.

import { UserError } from '../base/errors';
import { build } from '../nix/build';
import { push, type PushProgress } from '../nix/push';
import type { NixOptions } from '../nix/run';
import { signClosure } from '../nix/sign';
import { NO_PUSH_CREDENTIALS } from './cache-access';
import type { PortsOptions } from './port-options';
import type { RunPorts } from './types';

/** How one nix call runs: the options' environment and binary, in the flake's folder, stopped by `signal`. */
export function nixOptionsOf(o: Pick<PortsOptions, 'nix' | 'flakeDir'>, signal: AbortSignal, onLog?: (l: string) => void): NixOptions {
  return {
    ...o.nix,
    ...(o.flakeDir ? { cwd: o.flakeDir } : {}),
    signal,
    ...(onLog ? { onLog } : {}),
  };
}

export function nixPorts(o: Pick<PortsOptions, 'nix' | 'flakeDir' | 'settings' | 'cacheCredentials'>): Pick<RunPorts, 'build' | 'sign' | 'push'> {
  return {
    async build(installable, signal, onLine) {
      return (await build(installable, nixOptionsOf(o, signal, onLine))).path;
    },

    async sign(storePath, signal) {
      await signClosure([storePath], o.settings.cache.signingKeyFile, nixOptionsOf(o, signal));
    },

    async push(storePath, signal, onProgress) {
      if (!o.cacheCredentials) throw new UserError(NO_PUSH_CREDENTIALS);
      await push([storePath], {
        cache: o.settings.cache,
        credentials: o.cacheCredentials,
        sign: false, // the sign stage did it
        ...(o.nix ? { nix: o.nix } : {}),
        signal,
        onProgress: (p) => onProgress(...pushMessage(p)),
      });
    },
  };
}

/** The push's progress as a sentence and, when known, a fraction. */
export function pushMessage(p: Readonly<PushProgress>): [string, number?] {
  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
  switch (p.phase) {
    case 'checking':
      return [`Checking ${p.pathsChecked}/${p.pathsTotal} paths in the cache`, p.pathsTotal ? p.pathsChecked / p.pathsTotal : undefined];
    case 'uploading':
      return [`Uploading ${p.pathsUploaded}/${p.pathsMissing} paths (${mib(p.bytesUploaded)} sent)`, p.pathsMissing ? p.pathsUploaded / p.pathsMissing : undefined];
    case 'done':
      return ['The closure is in the cache', 1];
    default:
      return ['Preparing the push'];
  }
}
