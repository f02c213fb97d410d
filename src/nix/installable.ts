// What to build when the user names something (or nothing): a nixosConfigurations entry, or any installable.

import { UserError } from '../base/errors';
import { flakeRef, listNixosConfigurations, toplevelInstallable } from './flake';
import type { NixOptions } from './run';

export interface Target {
  installable: string;
  /** The nixosConfigurations name when the target is a toplevel. */
  config?: string;
}

/** True when `arg` is an installable Nix understands as is (`.#x`, `github:o/r#x`, `/path`, `./dir`), not a bare name. */
export function isExplicitInstallable(arg: string): boolean {
  return arg.includes('#') || arg.startsWith('.') || arg.startsWith('/') || /^[a-z][a-z0-9+]*:/.test(arg);
}

/**
 * No argument: the flake's only nixosConfiguration. A bare name: that configuration's toplevel. Anything else is
 * passed to Nix unchanged.
 */
export async function resolveTarget(arg: string | undefined, flakeDir: string, opts: NixOptions = {}): Promise<Target> {
  const flake = flakeRef(flakeDir);
  if (arg && isExplicitInstallable(arg)) return { installable: arg };
  if (arg) return { installable: toplevelInstallable(flake, arg), config: arg };
  const names = await listNixosConfigurations(flake, opts);
  if (names.length === 1) return { installable: toplevelInstallable(flake, names[0] as string), config: names[0] as string };
  if (names.length === 0) {
    throw new UserError(`The flake in ${flakeDir} has no nixosConfigurations: name what to build (e.g. .#packages.x86_64-linux.default).`);
  }
  throw new UserError(`The flake in ${flakeDir} has several nixosConfigurations (${names.join(', ')}): name the one to build.`);
}
