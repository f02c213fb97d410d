// What a flake offers to build on workers, for the picker: its packages for the workers' system (the NixOS
// configurations come from src/nix/flake.ts).

import { UserError } from '../base/errors';
import { runNix, type NixOptions } from '../nix/run';

/** Names under `packages.<system>`, sorted; [] when the flake has none for that system. */
export async function listPackages(flake: string, system: string, opts: NixOptions = {}): Promise<string[]> {
  try {
    const { stdout } = await runNix(['eval', '--json', `${flake}#packages.${system}`, '--apply', 'builtins.attrNames'], opts, 'Listing packages');
    const names: unknown = JSON.parse(stdout);
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) return [];
    return [...names].sort();
  } catch (err) {
    if (err instanceof UserError && /does not provide attribute/.test(err.message)) return [];
    throw err;
  }
}
