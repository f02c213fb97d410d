// Can this computer build the base image? The images are x86_64-linux systems: a local Nix builds them when it runs
// on x86_64-linux, or when it has a builder for x86_64-linux (a remote builder, a Linux VM builder on a Mac). When it
// cannot (no Nix, macOS or Arm without such a builder), Import Base Image offers to build on a temporary server.

import fs from 'node:fs';
import { messageOf } from '../base/errors';
import { resolveNix, runNix, type NixOptions } from '../nix/run';

export const IMAGE_SYSTEM = 'x86_64-linux';

export type LocalImageBuild = { ok: true; how: string } | { ok: false; reason: string };

export async function localImageBuild(opts: NixOptions = {}): Promise<LocalImageBuild> {
  if (!opts.nixBin && !resolveNix(opts.env ?? process.env)) return { ok: false, reason: 'Nix is not installed on this computer' };
  let system: string;
  try {
    system = (await runNix(['eval', '--impure', '--raw', '--expr', 'builtins.currentSystem'], opts, 'Asking Nix for its system')).stdout.trim();
  } catch (err) {
    opts.signal?.throwIfAborted();
    return { ok: false, reason: `the local Nix does not answer (${messageOf(err)})` };
  }
  if (system === IMAGE_SYSTEM) return { ok: true, how: `this computer is ${IMAGE_SYSTEM}` };
  const config = await nixConfig(opts);
  if (words(config['extra-platforms']).includes(IMAGE_SYSTEM)) return { ok: true, how: `the local Nix lists ${IMAGE_SYSTEM} in extra-platforms` };
  const builder = builderLines(config.builders).find((l) => words(l.split(/\s+/)[1]?.replace(/,/g, ' ')).includes(IMAGE_SYSTEM));
  if (builder) return { ok: true, how: `the local Nix has a builder for ${IMAGE_SYSTEM} (${builder.split(/\s+/)[0]})` };
  return { ok: false, reason: `this computer's Nix is ${system} and has no builder for ${IMAGE_SYSTEM}` };
}

/** `nix show-config --json` (Nix ≤ 2.19) or `nix config show --json`: each setting's value as a string. */
async function nixConfig(opts: NixOptions): Promise<Record<string, string>> {
  for (const args of [
    ['show-config', '--json'],
    ['config', 'show', '--json'],
  ]) {
    try {
      const parsed = JSON.parse((await runNix(args, opts, 'Reading the Nix configuration')).stdout) as Record<string, { value?: unknown }>;
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(parsed)) out[k] = Array.isArray(v?.value) ? v.value.join(' ') : String(v?.value ?? '');
      return out;
    } catch {
      opts.signal?.throwIfAborted();
    }
  }
  return {};
}

/** The builders setting's machines: inline (`;` or newlines between them) or `@file`, as Nix reads it. */
function builderLines(value: string | undefined): string[] {
  const text = (value ?? '').trim();
  let body = text;
  if (text.startsWith('@')) {
    try {
      body = fs.readFileSync(text.slice(1), 'utf8');
    } catch {
      return [];
    }
  }
  return body
    .split(/[;\n]/)
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

function words(s: string | undefined): string[] {
  return (s ?? '').split(/\s+/).filter(Boolean);
}
