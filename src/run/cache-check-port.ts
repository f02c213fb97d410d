// Before a machine is created for a store path this run does not push, and after a push, one look where the machine
// will substitute from: is `<hash>.narinfo` there? The agent waits for it up to THEBACKND_NARINFO_TIMEOUT (30 min),
// so a path that is not in the cache (never pushed, pushed elsewhere, a public URL serving another bucket) would
// otherwise cost a machine and half an hour before anyone hears of it.

import { Bucket, substituterUrl } from '../nix/s3';
import { hashPart } from '../nix/storePath';
import { credentialsFileFor, isS3Url, readCredentialsOf } from './cache-access';
import type { PortsOptions } from './port-options';
import type { RunPorts } from './types';

/** A cache that does not answer within this is reported as unreachable (a machine would wait on it as well). */
const CHECK_TIMEOUT_MS = 20_000;

export function cacheCheckPort(
  o: Pick<PortsOptions, 'settings' | 'cacheCredentials' | 'cacheReadCredentials' | 'pushCredentialsReadToo'>,
): NonNullable<RunPorts['narinfoProblem']> {
  return async (storePath, cachePrivate, signal) => {
    const key = `${hashPart(storePath)}.narinfo`;
    const url = substituterUrl(o.settings.cache);
    const both = AbortSignal.any([signal, AbortSignal.timeout(CHECK_TIMEOUT_MS)]);
    if (isS3Url(url)) {
      // Nix signs s3:// requests: the bucket is asked through the S3 API with the key at hand.
      const creds = o.cacheCredentials ?? readCredentialsOf(o)?.creds;
      if (!creds) return undefined; // nothing to sign with here; the machine has its own
      const bucket = await Bucket.open({ cache: o.settings.cache, credentials: creds, maxAttempts: 2 });
      try {
        return (await bucket.head(key, both)) === undefined ? `${key} is not in the bucket ${o.settings.cache.bucket}` : undefined;
      } catch (err) {
        signal.throwIfAborted();
        return `the bucket could not be asked for ${key} (${err instanceof Error ? err.message : String(err)})`;
      } finally {
        bucket.destroy();
      }
    }
    // HTTP(S): the very request the machine's Nix makes, with the read credentials a private cache gets (as Basic
    // auth, what the machine's netrc sends), and only to the host they may go to.
    const headers: Record<string, string> = {};
    const read = cachePrivate ? readCredentialsOf(o) : undefined;
    if (read) {
      credentialsFileFor(url, read.creds, read.pushKeyHost); // refuses a foreign host
      headers.authorization = `Basic ${Buffer.from(`${read.creds.accessKeyId}:${read.creds.secretAccessKey}`).toString('base64')}`;
    }
    const target = `${url}/${key}`;
    try {
      const res = await fetch(target, { method: 'HEAD', headers, signal: both, redirect: 'follow' });
      if (res.ok) return undefined;
      return `${target} answered HTTP ${res.status}${res.status === 401 || res.status === 403 ? ' (the cache refused the read: are its read credentials set?)' : ''}`;
    } catch (err) {
      signal.throwIfAborted();
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return `${target} could not be reached (${cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err))})`;
    }
  };
}
