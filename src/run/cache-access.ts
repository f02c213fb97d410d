// Which cache a run's machines substitute from and with what: the transfer a configuration implies, the key
// machines trust, the credentials file a private cache gets, and the checks made before anything is built or
// created. Pure (a file read at most): the ports and the CLI's and extension's pre-checks share them.

import fs from 'node:fs';
import { UserError } from '../base/errors';
import type { Settings } from '../base/settings';
import { checkCacheSettings, substituterUrl, type CacheCredentials } from '../nix/s3';
import { checkSigningKeyFile } from '../nix/sign';
import { installableOf } from './orchestrate';
import type { PortsOptions } from './port-options';
import type { RunRequest } from './types';

/** A cache is configured when machines have somewhere to substitute from; otherwise the closure goes over SSH. */
export function transferOf(s: Settings): 'cache' | 'ssh' {
  return s.cache.endpoint.trim() || s.cache.publicUrl.trim() ? 'cache' : 'ssh';
}

/** An `s3://` substituter always needs credentials (Nix signs S3 requests); an HTTP(S) one only when it says so. */
export function isS3Url(url: string): boolean {
  return url.startsWith('s3://');
}

/** The public key machines trust: the setting, else derived from the secret signing key (name:base64(seed‖pub)). */
export function trustedPublicKeyOf(s: Settings): string {
  const set = s.cache.trustedPublicKey.trim();
  if (set) return set;
  const file = s.cache.signingKeyFile;
  if (file) {
    try {
      const m = /^([^:\s]+):([A-Za-z0-9+/]{86}==)$/.exec(fs.readFileSync(file, 'utf8').trim());
      if (m) return `${m[1]}:${Buffer.from(m[2]!, 'base64').subarray(32).toString('base64')}`;
    } catch {
      // unreadable: the message below says what to set
    }
  }
  throw new UserError("Machines need the cache's public key: set thebacknd.cache.trustedPublicKey (or thebacknd.cache.signingKeyFile).", {
    kind: 'openSettings',
    setting: 'thebacknd.cache.trustedPublicKey',
  });
}

/**
 * The credentials file the agent reads: a netrc for an HTTP(S) cache (Nix's netrc-file, curl's --netrc-file), an AWS
 * shared-credentials file for an s3:// one. Its content only ever travels over the pinned SSH connection.
 */
export function credentialsFileFor(cacheUrl: string, c: CacheCredentials, cache?: Pick<Settings['cache'], 'endpoint' | 'bucket' | 'forcePathStyle'>): string {
  if (isS3Url(cacheUrl)) {
    const token = c.sessionToken ? `aws_session_token = ${c.sessionToken}\n` : '';
    return `[default]\naws_access_key_id = ${c.accessKeyId}\naws_secret_access_key = ${c.secretAccessKey}\n${token}`;
  }
  if (/\s/.test(c.accessKeyId + c.secretAccessKey)) throw new UserError('Cache read credentials with spaces cannot go in a netrc file.');
  const host = new URL(cacheUrl).hostname;
  // The push (S3) key as a netrc password goes only to the cache's own host (the endpoint's, or the bucket's under it).
  if (cache?.endpoint.trim()) {
    const endpointHost = new URL(cache.endpoint).hostname;
    if (host !== endpointHost && host !== `${cache.bucket}.${endpointHost}`) {
      throw new UserError(
        `The cache's public URL is on ${host}, not on the cache's host ${endpointHost}: its read credentials are not sent there. Use a public URL on ${endpointHost}, or an s3:// one.`,
      );
    }
  }
  return `machine ${host} login ${c.accessKeyId} password ${c.secretAccessKey}\n`;
}

export type CacheAccessOptions = Pick<PortsOptions, 'settings' | 'cacheCredentials' | 'cacheReadCredentials' | 'pushCredentialsReadToo'>;

/**
 * What a machine of a private cache gets: the read key, or (CLI fallback only) the push key, which as a netrc
 * password may only go to the cache's own S3 host (`pushKeyHost`): a read key was given for the public URL itself.
 */
export function readCredentialsOf(o: CacheAccessOptions): { creds: CacheCredentials; pushKeyHost?: Settings['cache'] } | undefined {
  if (o.cacheReadCredentials) return { creds: o.cacheReadCredentials };
  return o.pushCredentialsReadToo && o.cacheCredentials ? { creds: o.cacheCredentials, pushKeyHost: o.settings.cache } : undefined;
}

export const NO_READ_CREDENTIALS =
  'The cache is private but no read credentials are set: run "Thebacknd: Set Cache Read Credentials…" with a read-only key (the push credentials never go to a machine).';

export const NO_PUSH_CREDENTIALS = 'No binary cache credentials: run "Thebacknd: Set Cache Credentials…" (CLI: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).';

/**
 * Refuses, before anything is built or created, a run whose settings cannot work: a build to push without a cache,
 * signing key or credentials; a store path for machines that would not know which key to trust; a private cache
 * without read credentials.
 */
export function preflight(o: CacheAccessOptions, req: RunRequest): void {
  if (req.transfer !== 'cache') return;
  const { cache } = o.settings;
  if (cache.publicUrl.trim()) {
    let u: URL | undefined;
    try {
      u = new URL(cache.publicUrl.trim());
    } catch {
      throw new UserError(`thebacknd.cache.publicUrl is not a URL: "${cache.publicUrl}".`);
    }
    // In user-data, which anything on the machine and the cloud can read.
    if (u.username || u.password)
      throw new UserError('thebacknd.cache.publicUrl holds a user name or password (user:pass@): remove it; a private cache gets read credentials over SSH instead.');
  }
  if (installableOf(req)) {
    checkCacheSettings(cache);
    checkSigningKeyFile(cache.signingKeyFile);
    if (!o.cacheCredentials) throw new UserError(NO_PUSH_CREDENTIALS);
  }
  if (req.payload.kind !== 'bare') {
    if (!cache.publicUrl) checkCacheSettings(cache); // the substituter URL derives from endpoint and bucket
    trustedPublicKeyOf(o.settings);
  }
  if (req.cachePrivate) {
    const read = readCredentialsOf(o);
    if (!read) throw new UserError(NO_READ_CREDENTIALS);
    credentialsFileFor(substituterUrl(cache), read.creds, read.pushKeyHost); // refuses a foreign host now, before anything is created
  }
}
