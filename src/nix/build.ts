// `nix build` of any installable, its log streamed as it comes. The output paths are read from `--json`, which
// Nix 2.4+ all print (`--print-out-paths` only exists in newer Nix).

import { UserError } from '../base/errors';
import { runNix, type NixOptions } from './run';
import { isStorePath } from './storePath';

export interface BuildResult {
  /** The first output of the first installable (`out` when there is one): what a machine is told to use. */
  path: string;
  /** Every output path Nix reported, in its order. */
  paths: string[];
}

export async function build(installable: string, opts: NixOptions = {}): Promise<BuildResult> {
  const { stdout } = await runNix(['build', '--json', '--no-link', '-L', installable], opts, `Building ${installable}`);
  const paths = parseBuildJson(stdout);
  const first = paths[0];
  if (!first) throw new UserError(`nix build ${installable} reported no output path.`, undefined, stdout.slice(0, 2000));
  return { path: first, paths };
}

/**
 * Output paths from `nix build --json`: `[{"drvPath":…,"outputs":{"out":"/nix/store/…"}}]`, or `[{"path":…}]`
 * for an installable that is already a store path (newer Nix). `out` comes first within an entry.
 */
export function parseBuildJson(stdout: string): string[] {
  let data: unknown;
  try {
    data = JSON.parse(stdout);
  } catch {
    throw new UserError('nix build did not print the JSON it was asked for.', undefined, stdout.slice(0, 2000));
  }
  if (!Array.isArray(data)) throw new UserError('nix build printed JSON of an unexpected shape.', undefined, stdout.slice(0, 2000));
  const paths: string[] = [];
  for (const entry of data as unknown[]) {
    if (!entry || typeof entry !== 'object') continue;
    const e = entry as { outputs?: Record<string, unknown>; path?: unknown };
    if (e.outputs && typeof e.outputs === 'object') {
      const names = Object.keys(e.outputs).sort((a, b) => (a === 'out' ? -1 : b === 'out' ? 1 : a.localeCompare(b)));
      for (const n of names) {
        const p = e.outputs[n];
        if (typeof p === 'string') paths.push(p);
      }
    } else if (typeof e.path === 'string') {
      paths.push(e.path);
    }
  }
  const bad = paths.find((p) => !isStorePath(p));
  if (bad) throw new UserError(`nix build reported "${bad}", which is not a store path.`);
  return paths;
}
