// The local `nix build` that hands every derivation to the workers: `--max-jobs 0` (nothing builds here),
// `--builders-use-substitutes` (workers fetch what a binary cache has themselves instead of through this machine),
// `--builders '<one line per worker>'`, and an out-link for the result. The log streams as it comes; output paths
// come from `--json` (Nix 2.4+; `--print-out-paths` is newer).

import path from 'node:path';
import { UserError } from '../base/errors';
import { parseBuildJson } from '../nix/build';
import { runNix, type NixOptions } from '../nix/run';
import { isIgnoredBuilders, parseBuildingOn, UNTRUSTED_HINT } from './builders';

export interface RemoteBuildOptions extends NixOptions {
  /** The `--builders` value. */
  builders: string;
  /** Out-link path; relative paths are relative to `cwd`. */
  outLink: string;
  /** Nix handed `drv` to the builder `uri` (`ssh://root@IP`). */
  onBuildingOn?: (drv: string, uri: string) => void;
  /** Makes Nix's messages about a builder name the worker (`ssh://root@IP` → `thebacknd-2 (IP)`). */
  describeBuilder?: (uri: string) => string | undefined;
}

export interface RemoteBuildResult {
  paths: string[];
  outLink: string;
}

/** What makes a `nix` command build on the workers only (vps-worker's `builderArgs`; the shell's `remote` alias). */
export function builderFlags(builders: string): string[] {
  return ['--max-jobs', '0', '--builders-use-substitutes', '--builders', builders];
}

export function remoteBuildArgs(installable: string, builders: string, outLink: string): string[] {
  return ['build', '--json', '-L', ...builderFlags(builders), '--out-link', outLink, installable];
}

export async function remoteBuild(installable: string, opts: RemoteBuildOptions): Promise<RemoteBuildResult> {
  const outLink = path.resolve(opts.cwd ?? process.cwd(), opts.outLink);
  let ignored = false;
  const onLog = (line: string): void => {
    if (isIgnoredBuilders(line)) ignored = true;
    const on = parseBuildingOn(line);
    if (on) opts.onBuildingOn?.(on.drv, on.uri);
    opts.onLog?.(line);
  };
  try {
    const { stdout } = await runNix(remoteBuildArgs(installable, opts.builders, outLink), { ...opts, onLog, raiseOpenFiles: true }, `Building ${installable} on the workers`);
    const paths = parseBuildJson(stdout);
    if (!paths.length) throw new UserError(`nix build ${installable} reported no output path.`, undefined, stdout.slice(0, 2000));
    return { paths, outLink };
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    if (ignored) throw new UserError(UNTRUSTED_HINT, undefined, err.detail);
    const named = opts.describeBuilder ? nameBuilders(err.message, opts.describeBuilder) : err.message;
    throw new UserError(named, err.fix, err.detail);
  }
}

/** Replaces `'ssh://root@IP'` in a Nix message by what `describe` says about it. */
export function nameBuilders(message: string, describe: (uri: string) => string | undefined): string {
  return message.replace(/'(ssh(?:-ng)?:\/\/[^']+)'/g, (all, uri: string) => {
    const d = describe(uri);
    return d ? d : all;
  });
}
