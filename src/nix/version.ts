// Is a usable Nix there? `nix build --json`, `nix store sign` and flakes arrived with the 2.4 command line.

import { UserError } from '../base/errors';
import { INSTALL_HINT, runNixPlain, type NixOptions } from './run';

export const MIN_NIX = { major: 2, minor: 4 } as const;

export interface NixVersion {
  major: number;
  minor: number;
  patch: number;
  text: string;
}

/** Parses `nix --version` output: `nix (Nix) 2.8.0`, `nix (Nix) 2.24.10`, `nix (Determinate Nix 3.6.2) 2.29.0`, `nix (Lix, like Nix) 2.91.1`. */
export function parseNixVersion(output: string): NixVersion | undefined {
  const m = /\)\s+(\d+)\.(\d+)(?:\.(\d+))?/.exec(output) ?? /(\d+)\.(\d+)(?:\.(\d+))?/.exec(output);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0), text: `${m[1]}.${m[2]}.${m[3] ?? 0}` };
}

export function isRecentEnough(v: NixVersion): boolean {
  return v.major > MIN_NIX.major || (v.major === MIN_NIX.major && v.minor >= MIN_NIX.minor);
}

/** Resolves with the version, or throws a UserError saying what is wrong and how to install Nix. */
export async function checkNix(opts: NixOptions = {}): Promise<NixVersion> {
  const { stdout } = await runNixPlain(['--version'], { ...opts, onLog: undefined }, 'Checking the Nix version');
  const v = parseNixVersion(stdout);
  if (!v) throw new UserError(`Could not read the Nix version from "${stdout.trim()}". ${INSTALL_HINT}`, { kind: 'installNix' });
  if (!isRecentEnough(v)) {
    throw new UserError(`Nix ${v.text} is too old: Thebacknd needs Nix ${MIN_NIX.major}.${MIN_NIX.minor} or newer (flakes and the \`nix\` command). ${INSTALL_HINT}`, {
      kind: 'installNix',
    });
  }
  return v;
}
