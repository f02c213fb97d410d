// Signing: the cache's key pair (`nix-store --generate-binary-cache-key`) and `nix store sign --recursive`.
// Machines trust the public key; the secret one never leaves this computer and is kept mode 0600.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../base/errors';
import { runNix, runNixStore, type NixOptions } from './run';

const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const PUBLIC_KEY = /^[A-Za-z0-9._-]+:[A-Za-z0-9+/]{43}=$/;

export interface GeneratedKey {
  name: string;
  secretKeyFile: string;
  publicKeyFile: string;
  /** `name:base64`, the value for trusted-public-keys. */
  publicKey: string;
}

export function isPublicKey(s: string): boolean {
  return PUBLIC_KEY.test(s.trim());
}

/** A default key name, `<host>-thebacknd-1` style, as Nix's manual suggests (`cache.example.org-1`). */
export function defaultKeyName(host: string): string {
  const clean =
    host
      .toLowerCase()
      .replace(/[^a-z0-9.-]+/g, '-')
      .replace(/^[-.]+|[-.]+$/g, '') || 'local';
  return `${clean}-thebacknd-1`;
}

/**
 * Writes `<dir>/<name>.sec` (0600) and `<dir>/<name>.pub`. Refuses to overwrite an existing key: losing a secret
 * key means every machine image trusting it has to change.
 */
export async function generateSigningKey(name: string, dir: string, opts: NixOptions = {}): Promise<GeneratedKey> {
  if (!KEY_NAME.test(name)) {
    throw new UserError(`"${name}" is not a usable key name: use letters, digits, dots, dashes and underscores.`);
  }
  const secretKeyFile = path.join(dir, `${name}.sec`);
  const publicKeyFile = path.join(dir, `${name}.pub`);
  for (const f of [secretKeyFile, publicKeyFile]) {
    if (fs.existsSync(f)) throw new UserError(`${f} already exists; choose another key name or folder.`);
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Generated in a private folder next to the target and linked into place, so the secret is never readable by
  // others, and a key created meanwhile is never overwritten.
  const tmp = fs.mkdtempSync(path.join(dir, '.keygen-'));
  try {
    const sec = path.join(tmp, 'sec');
    const pub = path.join(tmp, 'pub');
    await runNixStore(['--generate-binary-cache-key', name, sec, pub], opts, 'Generating the signing key');
    fs.chmodSync(sec, 0o600);
    const publicKey = fs.readFileSync(pub, 'utf8').trim();
    if (!isPublicKey(publicKey)) throw new UserError(`nix-store wrote an unexpected public key: ${publicKey.slice(0, 80)}`);
    try {
      fs.linkSync(sec, secretKeyFile);
      fs.linkSync(pub, publicKeyFile);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UserError(`A key file appeared at ${dir} meanwhile; nothing was overwritten.`);
      throw err;
    }
    return { name, secretKeyFile, publicKeyFile, publicKey };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Checks the secret key file before a long build or push depends on it. */
export function checkSigningKeyFile(file: string): void {
  if (!file) {
    throw new UserError('No signing key is set: run "Thebacknd: Generate Signing Key…" or set thebacknd.cache.signingKeyFile.', {
      kind: 'openSettings',
      setting: 'thebacknd.cache.signingKeyFile',
    });
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UserError(`Cannot read the signing key ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}.`, {
      kind: 'openSettings',
      setting: 'thebacknd.cache.signingKeyFile',
    });
  }
  // A secret key is `name:base64(64 bytes)`; a public key pasted by mistake is much shorter.
  if (!/^[^:\s]+:[A-Za-z0-9+/]{86}==$/.test(text)) {
    throw new UserError(`${file} is not a Nix secret signing key (expected name:base64 as written by nix-store --generate-binary-cache-key).`, {
      kind: 'openSettings',
      setting: 'thebacknd.cache.signingKeyFile',
    });
  }
}

/** `nix store sign --recursive`: adds this key's signature to every path of the closures, in the local store. */
/** Signs exactly these paths (not their closure), a few hundred per `nix store sign` run. */
export async function signPaths(paths: readonly string[], keyFile: string, opts: NixOptions = {}): Promise<void> {
  checkSigningKeyFile(keyFile);
  for (let i = 0; i < paths.length; i += 200) {
    await runNix(['store', 'sign', '--key-file', keyFile, ...paths.slice(i, i + 200)], opts, 'Signing the paths to push');
  }
}

export async function signClosure(paths: readonly string[], keyFile: string, opts: NixOptions = {}): Promise<void> {
  checkSigningKeyFile(keyFile);
  await runNix(['store', 'sign', '--recursive', '--key-file', keyFile, ...paths], opts, 'Signing the closure');
}
