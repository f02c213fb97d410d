// An ed25519 key pair in OpenSSH formats, from node:crypto alone. On the ground floor because two layers make keys:
// src/ssh/keys.ts (a machine's login and host keys) and the Hetzner provider (its project key, public half only).

import { generateKeyPairSync, randomBytes } from 'node:crypto';

export interface KeyPair {
  /** OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`), unencrypted: sshd and ssh2 read it as is. */
  privateKey: string;
  /** One line: `ssh-ed25519 AAAA… comment`. */
  publicKey: string;
}

/** DER framing of an ed25519 key (RFC 8410): PKCS#8 ends with the 32-byte seed, SubjectPublicKeyInfo with the key. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * Generates an ed25519 key pair in OpenSSH formats, with node:crypto. Not ssh2's generateKeyPairSync: it strips
 * leading zero bytes from the public key, so about 1 key in 256 comes out malformed (mscdex/ssh2#1390, #1513).
 * The keys come back DER-encoded from the generation itself, never as KeyObjects exported afterwards: in Node 20,
 * exporting a fresh key as JWK can deadlock the process (the export holds the key's lock while it allocates; a GC
 * then finalises the generation job, which takes the same lock); a stress test in test/unit/ssh/keys.test.ts
 * hangs within seconds that way.
 */
export function generateEd25519(comment: string): KeyPair {
  const der = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { format: 'der', type: 'pkcs8' },
    publicKeyEncoding: { format: 'der', type: 'spki' },
  });
  const seed = rawKey(der.privateKey, PKCS8_PREFIX);
  const pub = rawKey(der.publicKey, SPKI_PREFIX);
  const publicBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
  return { privateKey: opensshPrivateKey(publicBlob, seed, pub, comment), publicKey: `ssh-ed25519 ${publicBlob.toString('base64')} ${comment}` };
}

function rawKey(der: Buffer, prefix: Buffer): Buffer {
  if (der.length !== prefix.length + 32 || !der.subarray(0, prefix.length).equals(prefix)) throw new Error('unexpected ed25519 key encoding');
  return Buffer.from(der.subarray(prefix.length));
}

/** The `openssh-key-v1` container (PROTOCOL.key), unencrypted: cipher and KDF `none`, one key, block size 8. */
function opensshPrivateKey(publicBlob: Buffer, seed: Buffer, pub: Buffer, comment: string): string {
  const check = randomBytes(4);
  const body = Buffer.concat([check, check, sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  const padLength = (8 - (body.length % 8)) % 8;
  const padding = Buffer.from(Array.from({ length: padLength }, (_, i) => i + 1));
  const blob = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    uint32(1),
    sshString(publicBlob),
    sshString(Buffer.concat([body, padding])),
  ]);
  const lines = blob.toString('base64').match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** An SSH wire-format string: uint32 length, then the bytes. */
function sshString(v: string | Buffer): Buffer {
  const data = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
  return Buffer.concat([uint32(data.length), data]);
}
