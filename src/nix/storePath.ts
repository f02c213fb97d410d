// Strict store-path parsing. A machine is told either a toplevel (a bare store path, switched to) or a binary
// inside a store path (run on the base image), the same split the seed's `thebacknd-run.sh` made with sed; here
// anything that is not exactly `/nix/store/<32-char hash>-<name>[/sub/path]` is refused before it reaches a VM.

import { UserError } from '../base/errors';

export const STORE_DIR = '/nix/store';

/** Nix's base-32 alphabet: digits and lower-case letters without e, o, t, u. */
export const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz';
const HASH = `[${NIX32}]{32}`;
/** Characters Nix allows in a store path name; a name may not start with a dot. */
const NAME = '[A-Za-z0-9+_?=-][A-Za-z0-9+._?=-]*';
const SEGMENT = /^[^/\0]+$/;
const STORE_PATH_RE = new RegExp(`^/nix/store/(${HASH})-(${NAME})$`);
const MAX_NAME = 211;

export interface StorePathRef {
  kind: 'toplevel';
  /** `/nix/store/<hash>-<name>` */
  storePath: string;
  hash: string;
  name: string;
}

export interface BinaryRef {
  kind: 'binary';
  /** The store path holding the binary; it is what has to be in the cache. */
  storePath: string;
  hash: string;
  name: string;
  /** Path inside the store path, without a leading slash (`bin/hello`). */
  subPath: string;
  /** The whole path as given (`/nix/store/<hash>-hello/bin/hello`). */
  path: string;
}

export type ParsedStorePath = StorePathRef | BinaryRef;

export type ParseResult = { ok: true; value: ParsedStorePath } | { ok: false; reason: string };

/** Parses a store path or a path inside one. A single trailing slash on a bare store path is accepted. */
export function parseStorePath(input: string): ParseResult {
  if (typeof input !== 'string' || input.length === 0) return fail('it is empty');
  if (/\s/.test(input)) return fail('it contains white space');
  if (input.includes('\0')) return fail('it contains a NUL character');
  const prefix = `${STORE_DIR}/`;
  if (!input.startsWith(prefix)) return fail(`it does not start with ${prefix}`);
  const rest = input.slice(prefix.length);
  const slash = rest.indexOf('/');
  const base = slash < 0 ? rest : rest.slice(0, slash);
  const sub = slash < 0 ? '' : rest.slice(slash + 1);
  const storePath = prefix + base;
  const m = STORE_PATH_RE.exec(storePath);
  if (!m) {
    const hash = base.split('-', 1)[0] ?? '';
    if (!base.includes('-') || hash.length !== 32) return fail('the store path needs a 32-character hash, a dash and a name');
    if (!new RegExp(`^${HASH}$`).test(hash)) return fail(`"${hash}" is not a Nix hash (base-32: 0-9 and a-z without e, o, t, u)`);
    return fail('the name after the hash has characters Nix does not allow');
  }
  const hash = m[1] as string;
  const name = m[2] as string;
  if (name.length > MAX_NAME) return fail(`the name is longer than ${MAX_NAME} characters`);
  if (sub === '') return { ok: true, value: { kind: 'toplevel', storePath, hash, name } };
  const segments = sub.split('/');
  for (const s of segments) {
    if (s === '') return fail('the path inside the store path has an empty segment (// or a trailing slash)');
    if (s === '.' || s === '..') return fail('the path inside the store path may not contain . or ..');
    if (!SEGMENT.test(s)) return fail('the path inside the store path has an invalid segment');
  }
  return { ok: true, value: { kind: 'binary', storePath, hash, name, subPath: sub, path: input } };
}

/** True for a bare `/nix/store/<hash>-<name>`. */
export function isStorePath(input: string): boolean {
  const r = parseStorePath(input);
  return r.ok && r.value.kind === 'toplevel' && r.value.storePath === input;
}

/** The 32-character hash part of a bare store path, which names its narinfo in a binary cache. */
export function hashPart(storePath: string): string {
  const m = STORE_PATH_RE.exec(storePath);
  if (!m) throw new Error(`not a store path: ${storePath}`);
  return m[1] as string;
}

function fail(reason: string): ParseResult {
  return { ok: false, reason };
}

/** Like parseStorePath, for input a person typed: a refusal is a UserError that says why. */
export function requireStorePath(input: string): ParsedStorePath {
  const r = parseStorePath(input.trim());
  if (!r.ok) throw new UserError(`"${input.trim()}" is not a Nix store path: ${r.reason}.`);
  return r.value;
}
