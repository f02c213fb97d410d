// The few narinfo fields the push needs, and the placeholder narinfos that tell a local staging cache which
// references the bucket already holds.

import type { PathInfo } from './closure';
import { NIX32 } from './storePath';

export interface NarInfo {
  storePath: string;
  /** Key of the compressed NAR, relative to the cache root (`nar/<filehash>.nar.zst`). */
  url: string;
  fileSize: number | undefined;
  /** SHA-256 of the compressed NAR, in hex, when the narinfo names one (`FileHash: sha256:…`). */
  fileSha256: string | undefined;
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
    fileSha256: sha256Hex(fields.get('FileHash')),
    references: (fields.get('References') ?? '').split(' ').filter(Boolean),
  };
}

const SHA256_NIX32 = new RegExp(`^sha256:([${NIX32}]{52})$`);

/** `sha256:<52 characters of Nix's base32>` as hex, or undefined for anything else. */
export function sha256Hex(hash: string | undefined): string | undefined {
  const m = SHA256_NIX32.exec(hash ?? '');
  if (!m) return undefined;
  const s = m[1]!;
  const out = new Uint8Array(32);
  // Nix's base32 reads the string from its end, five bits per character, least significant bits first.
  for (let n = 0; n < s.length; n++) {
    const digit = NIX32.indexOf(s[s.length - 1 - n]!);
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    out[i]! |= (digit << j) & 0xff;
    if (i + 1 < 32) out[i + 1]! |= digit >> (8 - j);
    else if (digit >> (8 - j)) return undefined; // bits beyond 256: not a SHA-256
  }
  return Buffer.from(out).toString('hex');
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
