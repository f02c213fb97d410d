// Retry waits from the clouds' rate-limit headers, and the messages a user reads for each kind of failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, RateLimited, delayFor, rateLimitWaitMs, retryOptions, withRetry } from '../../../src/providers/retry';
import { explainInvalidCreate, toUserError } from '../../../src/providers/errors';
import { UserError } from '../../../src/base/errors';

const date = 'Mon, 23 Nov 2026 17:00:00 GMT';
const epoch = Date.parse(date) / 1000;

test('DigitalOcean: wait until ratelimit-reset, measured on the server clock; retry-after wins', () => {
  assert.equal(rateLimitWaitMs('digitalocean', { date, 'ratelimit-reset': String(epoch + 7) }), 7000);
  assert.equal(rateLimitWaitMs('digitalocean', { date, 'ratelimit-reset': String(epoch + 7), 'retry-after': '3' }), 3000);
  assert.equal(rateLimitWaitMs('digitalocean', { date }), undefined);
});

test('Hetzner: RateLimit-Reset is when the whole budget is back; one request is free after its share', () => {
  const h = { date, 'ratelimit-reset': String(epoch + 3600), 'ratelimit-limit': '3600', 'ratelimit-remaining': '0' };
  assert.equal(rateLimitWaitMs('hetzner', h), 1000);
  assert.equal(rateLimitWaitMs('hetzner', { date, 'ratelimit-reset': String(epoch + 4) }), 4000);
});

test('a 429 waits what the cloud asks; too long a wait fails at once with the time to wait', () => {
  const o = retryOptions({ baseDelayMs: 10, maxRateLimitWaitMs: 60_000 });
  const e = new ApiError('digitalocean', 'http', 'API Rate limit exceeded.', 429, 'too_many_requests', { date, 'ratelimit-reset': String(epoch + 5) });
  assert.equal(delayFor(e, 0, o), 5000);
  const far = new ApiError('digitalocean', 'http', 'x', 429, 'too_many_requests', { date, 'ratelimit-reset': String(epoch + 600) });
  assert.throws(
    () => delayFor(far, 0, o),
    (err: unknown) => err instanceof RateLimited && err.waitMs === 600_000,
  );
  const msg = toUserError('digitalocean', new RateLimited('digitalocean', 600_000)).message;
  assert.match(msg, /rate limit reached: try again in 600 s/);
});

test('withRetry retries transient failures only, with the injected sleep, up to the limit', async () => {
  const waits: number[] = [];
  const o = retryOptions({ retries: 3, baseDelayMs: 100, maxDelayMs: 1000, sleep: async (ms) => void waits.push(ms) });
  let calls = 0;
  const ok = await withRetry(async () => {
    if (++calls < 3) throw new ApiError('hetzner', 'http', 'unavailable', 503, 'unavailable');
    return 'done';
  }, o);
  assert.equal(ok, 'done');
  assert.equal(calls, 3);
  assert.equal(waits.length, 2);
  assert.ok(waits[0]! >= 50 && waits[0]! <= 100 && waits[1]! >= 100 && waits[1]! <= 200, `backoff grows: ${waits}`);

  calls = 0;
  await assert.rejects(
    withRetry(async () => {
      calls++;
      throw new ApiError('hetzner', 'http', 'invalid', 422, 'invalid_input');
    }, o),
    /invalid/,
  );
  assert.equal(calls, 1, 'a 4xx is not retried');

  calls = 0;
  await assert.rejects(
    withRetry(async () => {
      calls++;
      throw new ApiError('hetzner', 'network', 'ECONNRESET');
    }, o),
  );
  assert.equal(calls, 4, 'first try + 3 retries');
});

test('401 and 403 say the token was rejected, offer Set Token, and never contain the token', () => {
  const token = 'dop_v1_0123456789abcdef0123456789abcdef';
  for (const [provider, status, code] of [
    ['digitalocean', 401, 'unauthorized'],
    ['digitalocean', 403, 'forbidden'],
    ['hetzner', 401, 'unauthorized'],
  ] as const) {
    const e = toUserError(provider, new ApiError(provider, 'http', `Unable to authenticate you ${token}`, status, code), { secrets: [token] });
    assert.ok(e instanceof UserError);
    assert.match(e.message, /token was rejected/);
    assert.deepEqual(e.fix, { kind: 'setToken', provider });
    assert.ok(!e.message.includes(token));
  }
  const ro = toUserError('hetzner', new ApiError('hetzner', 'http', 'token is readonly', 401, 'token_readonly'));
  assert.match(ro.message, /read-only/);
});

test('quota and limits say so, and are not mistaken for a bad token', () => {
  const hz = toUserError('hetzner', new ApiError('hetzner', 'http', 'server limit exceeded', 403, 'resource_limit_exceeded')) as UserError;
  assert.match(hz.message, /account limit is reached/);
  assert.equal(hz.fix, undefined);
  const d = toUserError('digitalocean', new ApiError('digitalocean', 'http', 'creating this/these droplet(s) will exceed your droplet limit', 422, 'unprocessable_entity'));
  assert.match(d.message, /account limit is reached/);
});

test('network failures, timeouts and 5xx are told apart', () => {
  assert.match(
    toUserError('hetzner', new ApiError('hetzner', 'network', 'ECONNREFUSED'), { endpoint: 'http://127.0.0.1:9/v1' }).message,
    /Could not reach the Hetzner API at http:\/\/127\.0\.0\.1:9\/v1 \(ECONNREFUSED\)/,
  );
  assert.match(toUserError('digitalocean', new ApiError('digitalocean', 'timeout', 'timed out')).message, /did not answer in time/);
  assert.match(toUserError('digitalocean', new ApiError('digitalocean', 'http', 'Server Error', 502)).message, /API failed \(HTTP 502/);
});

test('an invalid region, size or image lists the valid ones', () => {
  const catalog = {
    regions: [
      { slug: 'ams3', name: 'Amsterdam 3', available: true },
      { slug: 'nyc1', name: 'New York 1', available: true },
    ],
    sizes: [{ slug: 's-1vcpu-1gb', cpus: 1, memoryGiB: 1, diskGiB: 25, pricePerHour: 0.00893, currency: 'USD' as const, regions: ['ams3'] }],
    images: [
      { id: '123', name: 'thebacknd-base', kind: 'custom' as const },
      { id: 'debian-12-x64', name: 'Debian 12', kind: 'distribution' as const },
    ],
  };
  const ok = { region: 'ams3', size: 's-1vcpu-1gb', image: '123' };
  assert.equal(explainInvalidCreate('digitalocean', ok, catalog), undefined);
  assert.match(explainInvalidCreate('digitalocean', { ...ok, region: 'mars1' }, catalog)!.message, /no region "mars1"\. Valid regions: ams3, nyc1\./);
  assert.match(explainInvalidCreate('digitalocean', { ...ok, size: 'huge' }, catalog)!.message, /no size "huge"\. Valid sizes in ams3: s-1vcpu-1gb\./);
  assert.match(explainInvalidCreate('digitalocean', { ...ok, region: 'nyc1' }, catalog)!.message, /not offered in nyc1\. It is in: ams3\./);
  assert.match(explainInvalidCreate('digitalocean', { ...ok, image: 'nope' }, catalog)!.message, /no image "nope"\. Valid images: 123 \(thebacknd-base\)\./);
});
