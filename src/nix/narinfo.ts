// The few narinfo fields the push needs, and the placeholder narinfos that tell a local staging cache which
// references the bucket already holds.

import type { PathInfo } from './closure';

export interface NarInfo {
  storePath: string;
  /** Key of the compressed NAR, relative to the cache root (`nar/<filehash>.nar.zst`). */
  url: string;
  fileSize: number | undefined;
  references: string[];
}

export function parseNarInfo(text: string): NarInfo | undefined {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(': ');
    if (i > 0) fields.set(line.slice(0, i), line.slice(i + 2));
  }
  const storePath = fields.get('StorePath');
  const url = fields.get('URL');
  if (!storePath || !url || !fields.has('NarHash')) return undefined;
  const size = fields.get('FileSize');
  return {
    storePath,
    url,
    fileSize: size === undefined ? undefined : Number(size),
    references: (fields.get('References') ?? '').split(' ').filter(Boolean),
  };
}

/**
 * A narinfo for a path the bucket already has, written into the staging cache only, never uploaded: Nix refuses to
 * add a path whose references the target cache lacks, and this is how the staging cache "has" them without Nix
 * compressing them again. Nothing reads its URL.
 */
export function placeholderNarInfo(info: PathInfo): string {
  const refs = info.references.map((r) => r.slice('/nix/store/'.length)).join(' ');
  return [`StorePath: ${info.path}`, 'URL: nar/already-in-bucket.nar', 'Compression: none', `NarHash: ${info.narHash}`, `NarSize: ${info.narSize}`, `References: ${refs}`, ''].join(
    '\n',
  );
}

export const NIX_CACHE_INFO = 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n';
