// The push key of the binary cache never reaches a machine from the extension (issue #14, item 3): a private cache
// needs a separate read key; an S3 key never goes as a netrc password to another host than the cache's; a public
// URL carrying user:pass@ is refused (it would sit in user-data).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS, type Settings } from '../../../src/base/settings';
import { preflight, type RunRequest } from '../../../src/run';

const KEY = 'cache.example.org-1:' + 'A'.repeat(43) + '=';
const TOPLEVEL = '/nix/store/lk6igl2f0i137q36wscfrc6n9r0jn52l-nixos-system-x';
const settings = (over: Partial<Settings['cache']> = {}): Settings => ({
  ...DEFAULTS,
  cache: { ...DEFAULTS.cache, endpoint: 'https://ams3.example.com', bucket: 'nix', trustedPublicKey: KEY, ...over },
});
const req: RunRequest = {
  payload: { kind: 'toplevel', storePath: TOPLEVEL },
  placement: { provider: 'hetzner', region: 'fsn1', size: 'cx22', image: '1' },
  maxAgeMinutes: 60,
  transfer: 'cache',
  cachePrivate: true,
  onFailure: 'destroy',
};
const push = { accessKeyId: 'PUSHKEY', secretAccessKey: 'push-secret' };
const read = { accessKeyId: 'READKEY', secretAccessKey: 'read-secret' };

test('a private cache with only the push key is refused: the extension never sends the write pair', () => {
  assert.throws(
    () => preflight({ settings: settings(), cacheCredentials: push }, req),
    /no read credentials are set: run "Thebacknd: Set Cache Read Credentials…".*push credentials never go to a machine/,
  );
  preflight({ settings: settings(), cacheCredentials: push, cacheReadCredentials: read }, req);
  // The CLI's documented fallback (THEBACKND_CACHE_READ_* unset) still works, to the cache's own host.
  preflight({ settings: settings({ publicUrl: 'https://nix.ams3.example.com' }), cacheCredentials: push, pushCredentialsReadToo: true }, req);
});

test('the push key never goes as a netrc password to a host other than the cache, and user:pass@ URLs are refused', () => {
  assert.throws(
    () => preflight({ settings: settings({ publicUrl: 'https://cdn.elsewhere.example/nix' }), cacheCredentials: push, pushCredentialsReadToo: true }, req),
    /public URL is on cdn\.elsewhere\.example, not on the cache's host ams3\.example\.com/,
  );
  assert.throws(
    () => preflight({ settings: settings({ publicUrl: 'https://user:pass@ams3.example.com/nix' }), cacheReadCredentials: read }, { ...req, cachePrivate: false }),
    /user:pass@/,
  );
});
