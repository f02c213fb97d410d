// Closure queries through `nix path-info --json`, which is an array in Nix 2.8 and an object keyed by path in newer
// Nix; both are read. The result is sorted so that every path comes after its references.

import { UserError } from '../base/errors';
import { runNix, type NixOptions } from './run';
import { isStorePath } from './storePath';

export interface PathInfo {
  path: string;
  narHash: string;
  narSize: number;
  references: string[];
  signatures: string[];
}

export async function closureOf(paths: readonly string[], opts: NixOptions = {}): Promise<PathInfo[]> {
  try {
    const { stdout } = await runNix(['path-info', '--recursive', '--json', ...paths], opts, 'Computing the closure');
    return topoSort(parsePathInfoJson(stdout));
  } catch (err) {
    if (err instanceof UserError && /is not valid/.test(err.message)) {
      throw new UserError(`${err.message.replace(/^.*?failed: /, '')}: it is not in the local Nix store; build it first.`, undefined, err.detail);
    }
    throw err;
  }
}

export function parsePathInfoJson(stdout: string): PathInfo[] {
  const data: unknown = JSON.parse(stdout);
  const entries: [string | undefined, unknown][] = Array.isArray(data)
    ? data.map((e) => [undefined, e])
    : data && typeof data === 'object'
      ? Object.entries(data as Record<string, unknown>)
      : [];
  return entries.map(([key, raw]) => {
    const e = (raw ?? {}) as Record<string, unknown>;
    const path = typeof e.path === 'string' ? e.path : key;
    if (!path || !isStorePath(path)) throw new UserError(`nix path-info printed an unexpected entry: ${JSON.stringify(raw).slice(0, 200)}`);
    if (e.valid === false || raw === null) throw new UserError(`${path} is not in the local Nix store; build it first.`);
    return {
      path,
      narHash: String(e.narHash ?? ''),
      narSize: Number(e.narSize ?? 0),
      references: Array.isArray(e.references) ? e.references.map(String) : [],
      signatures: Array.isArray(e.signatures) ? e.signatures.map(String) : [],
    };
  });
}

/** References first (a path's own self-reference is ignored); stable for paths that do not depend on each other. */
export function topoSort(infos: readonly PathInfo[]): PathInfo[] {
  const byPath = new Map(infos.map((i) => [i.path, i]));
  const out: PathInfo[] = [];
  const state = new Map<string, 1 | 2>();
  const visit = (p: string) => {
    const s = state.get(p);
    if (s === 2) return;
    if (s === 1) throw new Error(`reference cycle at ${p}`);
    const info = byPath.get(p);
    if (!info) return;
    state.set(p, 1);
    for (const r of info.references) if (r !== p) visit(r);
    state.set(p, 2);
    out.push(info);
  };
  // Store paths are ASCII: a plain comparison, not localeCompare, whose first call loads ICU's collator (~15 ms).
  for (const i of [...infos].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) visit(i.path);
  return out;
}
