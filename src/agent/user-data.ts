// The user-data a Thebacknd machine boots with: what nix/agent/thebacknd-agent.sh reads from the metadata service.
// vscode-free. The JSON is the contract between the extension and the image, so it carries a version.
//
// The SSH host key's private half is in here on purpose (vps-worker's design): it is a throwaway key generated
// locally for this one machine, so that the first SSH connection is already verified against a pinned key. It is
// not a long-lived secret; cache read credentials, which are, never go in user-data (they arrive over SSH).

import { UserError } from '../base/errors';

export const USER_DATA_VERSION = 1;

/** Hetzner accepts 32 KiB of user-data, DigitalOcean 64 KiB: the smaller bound applies to both. */
export const USER_DATA_MAX_BYTES = 32 * 1024;

export interface UserDataCache {
  /** Substituter URL the machine reads from: http(s)://… or s3://bucket?endpoint=…. */
  url: string;
  /** `name:base64` public key the closure is signed with. */
  trustedPublicKey: string;
  /** When true the agent waits for read credentials in /run/thebacknd/cache-credentials (netrc for http(s) caches,
   * an AWS shared-credentials file for s3:// caches), written over SSH by the extension. */
  private: boolean;
}

export interface UserDataV1 {
  version: 1;
  /** The machine's ed25519 host key, OpenSSH format; generated locally and pinned in known_hosts. */
  hostKey?: { private: string; public: string };
  /** `ssh-ed25519 AAAA… comment` lines appended to root's authorized_keys. */
  authorizedKeys: string[];
  cache?: UserDataCache;
  /** A NixOS toplevel to switch to. */
  toplevel?: string;
  /** A program inside a store path to run once, after which the machine powers off. */
  binary?: { path: string; args: string[] };
  /** `ssh`: no binary cache; the extension copies the closure over the pinned SSH connection, then writes the store
   * path to /run/thebacknd/closure-ready, which the agent waits for instead of substituting. */
  closure?: 'ssh';
  /** The cloud reaper's destroy-self web action, when one is deployed (never its secret): see UserDataReaper. */
  reaper?: UserDataReaper;
}

/**
 * What lets the machine destroy itself, and only itself: its run id, its code (HMAC-SHA256 of the run id under the
 * reaper's secret, hex), the web action's URL and the `X-Require-Whisk-Auth` value the action requires. The agent
 * calls it when a program ends, and every few minutes "only if due".
 */
export interface UserDataReaper {
  url: string;
  auth: string;
  runId: string;
  code: string;
}

export type UserData = UserDataV1;

/** What the machine does after boot. */
export type BootTarget = { kind: 'bare' } | { kind: 'toplevel'; path: string } | { kind: 'binary'; path: string; args?: string[] };

export interface UserDataInput {
  hostKey?: { private: string; public: string };
  authorizedKeys: readonly string[];
  cache?: UserDataCache;
  target: BootTarget;
  /** Where the store path comes from: the cache (default), or copied over SSH by the extension (no cache needed). */
  closure?: 'cache' | 'ssh';
  reaper?: UserDataReaper;
}

const STORE_PATH = /^\/nix\/store\/[0-9a-z]{32}-[^/]+$/;
const FILE_IN_STORE = /^\/nix\/store\/[0-9a-z]{32}-[^/]+\/.+$/;

export function isStorePath(p: string): boolean {
  return STORE_PATH.test(p);
}

export function buildUserData(input: UserDataInput): UserData {
  const data: UserData = { version: USER_DATA_VERSION, authorizedKeys: [] };
  if (input.hostKey) {
    if (!input.hostKey.public.startsWith('ssh-ed25519 ')) throw new UserError('The machine host key must be an ed25519 key.');
    if (!input.hostKey.private.includes('OPENSSH PRIVATE KEY')) {
      throw new UserError('The machine host key must be an OpenSSH private key.');
    }
    data.hostKey = { private: input.hostKey.private, public: input.hostKey.public.trim() };
  }
  for (const key of input.authorizedKeys) {
    const line = key.trim();
    if (!/^(ssh-|ecdsa-|sk-)\S+ \S+/.test(line) || line.includes('\n')) {
      throw new UserError('A login key is not an OpenSSH public key line.');
    }
    data.authorizedKeys.push(line);
  }
  const target = input.target;
  const overSsh = input.closure === 'ssh' && target.kind !== 'bare';
  if (target.kind !== 'bare' && !overSsh) {
    if (!input.cache) throw new UserError('A binary cache is needed to boot a store path: set thebacknd.cache.');
    if (!input.cache.url) throw new UserError('The binary cache has no URL: set thebacknd.cache.publicUrl.');
    if (!/^[^:\s]+:[A-Za-z0-9+/=]+$/.test(input.cache.trustedPublicKey)) {
      throw new UserError('The cache trusted public key must look like name:base64 (thebacknd.cache.trustedPublicKey).');
    }
  }
  if (input.cache && !overSsh) data.cache = { ...input.cache };
  if (overSsh) data.closure = 'ssh';
  if (target.kind === 'toplevel') {
    if (!STORE_PATH.test(target.path)) throw new UserError(`Not a Nix store path: ${target.path}`);
    data.toplevel = target.path;
  } else if (target.kind === 'binary') {
    if (!FILE_IN_STORE.test(target.path)) throw new UserError(`Not a program inside a Nix store path: ${target.path}`);
    data.binary = { path: target.path, args: [...(target.args ?? [])] };
  }
  if (input.reaper) data.reaper = checkReaper(input.reaper);
  return data;
}

function checkReaper(r: UserDataReaper): UserDataReaper {
  if (!/^https?:\/\/[^\s"'\\]+$/.test(r.url)) throw new UserError("The cloud reaper's destroy-self URL must be an http(s) URL.");
  if (!/^[A-Za-z0-9_-]{16,128}$/.test(r.auth)) throw new UserError("The cloud reaper's web action auth string is malformed: deploy the reaper again.");
  if (!/^thebacknd-[a-z0-9-]{1,53}$/i.test(r.runId)) throw new UserError(`Invalid run id for destroy-self: ${r.runId}`);
  if (!/^[0-9a-f]{64}$/.test(r.code)) throw new UserError('A destroy-self code is 64 hex digits.');
  return { url: r.url, auth: r.auth, runId: r.runId, code: r.code };
}

/** The JSON the provider receives; throws when it exceeds what the clouds accept. */
export function serializeUserData(data: UserData): string {
  const text = JSON.stringify(data);
  if (Buffer.byteLength(text) > USER_DATA_MAX_BYTES) {
    throw new UserError(`The machine's user-data is larger than ${USER_DATA_MAX_BYTES / 1024} KiB.`);
  }
  return text;
}

/** Reads user-data back (the emulator, test hosts, a machine's details view). Throws UserError when malformed. */
export function parseUserData(text: string): UserData {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UserError('The user-data is not JSON.');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UserError('The user-data is not a JSON object.');
  const o = raw as Record<string, unknown>;
  if (o.version !== USER_DATA_VERSION) throw new UserError(`Unsupported user-data version: ${String(o.version)}.`);
  const target: BootTarget =
    typeof o.toplevel === 'string'
      ? { kind: 'toplevel', path: o.toplevel }
      : isObject(o.binary) && typeof o.binary.path === 'string'
        ? { kind: 'binary', path: o.binary.path, args: Array.isArray(o.binary.args) ? o.binary.args.map(String) : [] }
        : { kind: 'bare' };
  const hostKey =
    isObject(o.hostKey) && typeof o.hostKey.private === 'string' && typeof o.hostKey.public === 'string' ? { private: o.hostKey.private, public: o.hostKey.public } : undefined;
  const cache = isObject(o.cache) ? { url: String(o.cache.url ?? ''), trustedPublicKey: String(o.cache.trustedPublicKey ?? ''), private: o.cache.private === true } : undefined;
  const authorizedKeys = Array.isArray(o.authorizedKeys) ? o.authorizedKeys.map(String) : [];
  const reaper = isObject(o.reaper)
    ? { url: String(o.reaper.url ?? ''), auth: String(o.reaper.auth ?? ''), runId: String(o.reaper.runId ?? ''), code: String(o.reaper.code ?? '') }
    : undefined;
  return buildUserData({ hostKey, authorizedKeys, cache, target, ...(o.closure === 'ssh' ? { closure: 'ssh' as const } : {}), ...(reaper ? { reaper } : {}) });
}

export function bootTargetOf(data: UserData): BootTarget {
  if (data.toplevel) return { kind: 'toplevel', path: data.toplevel };
  if (data.binary) return { kind: 'binary', path: data.binary.path, args: data.binary.args };
  return { kind: 'bare' };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
