// Flake discovery and the names of its NixOS configurations.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../base/errors';
import { runNix, type NixOptions } from './run';

/** The folders (of those given) that hold a flake.nix at their root, in the order given. */
export function findFlakes(folders: readonly string[]): string[] {
  return folders.filter((f) => {
    try {
      return fs.statSync(path.join(f, 'flake.nix')).isFile();
    } catch {
      return false;
    }
  });
}

/**
 * A flake reference for a local folder. An absolute path lets Nix pick `git+file` inside a Git work tree (only
 * tracked files, as users expect) and `path:` elsewhere.
 */
export function flakeRef(dir: string): string {
  return path.resolve(dir);
}

/** Quotes an attribute name for an installable when it is not a plain identifier (`"host.example"`). */
export function attrName(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_'-]*$/.test(name) ? name : JSON.stringify(name);
}

export function toplevelInstallable(flake: string, config: string): string {
  return `${flake}#nixosConfigurations.${attrName(config)}.config.system.build.toplevel`;
}

/** Names of `nixosConfigurations` in the flake, sorted; [] when the flake has none. */
export async function listNixosConfigurations(flake: string, opts: NixOptions = {}): Promise<string[]> {
  try {
    const { stdout } = await runNix(['eval', '--json', `${flake}#nixosConfigurations`, '--apply', 'builtins.attrNames'], opts, 'Listing nixosConfigurations');
    const names: unknown = JSON.parse(stdout);
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) {
      throw new UserError(`Unexpected answer from nix eval: ${stdout.slice(0, 200)}`);
    }
    return [...names].sort();
  } catch (err) {
    if (err instanceof UserError && /does not provide attribute/.test(err.message)) return [];
    throw err;
  }
}
