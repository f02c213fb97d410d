import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS, normalise } from '../../../src/base/settings';
import { messageOf, redact, UserError } from '../../../src/base/errors';

test('blank settings fall back to the defaults', () => {
  assert.deepEqual(normalise({}), DEFAULTS);
});

test('out-of-range or non-numeric values are clamped, not fatal', () => {
  const s = normalise({ maxAgeMinutes: 0, reapIntervalMinutes: 10_000 });
  assert.equal(s.maxAgeMinutes, 5);
  assert.equal(s.reapIntervalMinutes, 120);
  assert.equal(normalise({ maxAgeMinutes: Number.NaN }).maxAgeMinutes, 60);
  assert.equal(normalise({ defaultProvider: 'aws' as never }).defaultProvider, 'digitalocean');
});

test('partial nested settings keep the other defaults', () => {
  const s = normalise({ hetzner: { size: 'cpx31' }, cache: { bucket: 'b' } });
  assert.equal(s.hetzner.size, 'cpx31');
  assert.equal(s.hetzner.region, DEFAULTS.hetzner.region);
  assert.equal(s.cache.bucket, 'b');
  assert.equal(s.cache.checksumMode, 'WHEN_REQUIRED');
});

test('messages shown to users carry no secret and no stack', () => {
  const secret = 'dop_v1_supersecretvalue';
  const err = new Error(`request failed with ${secret}\n    at Object.<anonymous> (x.js:1:1)`);
  const msg = messageOf(err, [secret]);
  assert.equal(msg, 'request failed with «redacted»');
  assert.equal(messageOf(new UserError('Token rejected.\nSet a new one.')), 'Token rejected.\nSet a new one.');
  assert.equal(redact('abc', ['abc']), 'abc', 'too-short strings are not treated as secrets');
});
