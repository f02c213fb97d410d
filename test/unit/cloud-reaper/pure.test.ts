// The cloud reaper's pure parts: the schedule, the cost figure, the destroy-self codes, the runtime pick.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cronFor, nextCronRun } from '../../../src/cloud-reaper/schedule';
import { reaperCost, FREE_GIB_SECONDS_PER_MONTH } from '../../../src/cloud-reaper/cost';
import { codeMatches, destroyCode, newReaperSecret } from '../../../src/cloud-reaper/destroy-code';
import { pickNodeKind } from '../../../src/cloud-reaper/deploy';
import { UserError } from '../../../src/base/errors';
import { buildUserData, parseUserData, serializeUserData } from '../../../src/agent/user-data';
import { decodeReaperLink, encodeReaperLink, reaperUserData } from '../../../src/cloud-reaper/link';

test('the reaper period becomes a cron that keeps it even, or a clear error naming the nearest ones', () => {
  assert.equal(cronFor(20), '*/20 * * * *');
  assert.equal(cronFor(1), '* * * * *');
  assert.equal(cronFor(60), '0 * * * *');
  assert.equal(cronFor(120), '0 */2 * * *');
  assert.throws(
    () => cronFor(25),
    (e: unknown) => e instanceof UserError && /25 minutes.*use 20 or 30/.test(e.message),
  );
  assert.throws(() => cronFor(90), /use 60 or 120/);
});

test('the next run of such a cron, in UTC', () => {
  assert.equal(nextCronRun('*/20 * * * *', new Date('2026-12-06T20:07:30Z'))?.toISOString(), '2026-12-06T20:20:00.000Z');
  assert.equal(nextCronRun('*/20 * * * *', new Date('2026-12-06T20:40:00Z'))?.toISOString(), '2026-12-06T21:00:00.000Z');
  assert.equal(nextCronRun('0 */2 * * *', new Date('2026-12-06T23:10:00Z'))?.toISOString(), '2026-12-07T00:00:00.000Z');
  assert.equal(nextCronRun('5 4 * * *', new Date()), undefined);
});

test("the seed's figure: about 2,200 activations a month at 20 minutes, well inside the free allowance", () => {
  const c = reaperCost(20);
  assert.equal(c.activationsPerMonth, 2160);
  assert.ok(c.gibSecondsPerMonth < FREE_GIB_SECONDS_PER_MONTH / 10);
  assert.equal(c.usdPerMonth, 0);
  assert.ok(c.usdPerMonthWithoutAllowance > 0 && c.usdPerMonthWithoutAllowance < 0.1);
  assert.equal(reaperCost(1).activationsPerMonth, 43200);
});

test('a destroy code fits one run id under one secret, and nothing else', () => {
  const secret = newReaperSecret();
  assert.match(secret, /^[0-9a-f]{64}$/);
  const a = 'thebacknd-00000000-0000-4000-8000-000000000001';
  const b = 'thebacknd-00000000-0000-4000-8000-000000000002';
  const code = destroyCode(secret, a);
  assert.match(code, /^[0-9a-f]{64}$/);
  assert.ok(codeMatches(secret, a, code));
  assert.ok(codeMatches(secret, a, code.toUpperCase()));
  assert.ok(!codeMatches(secret, b, code), "another machine's code");
  assert.ok(!codeMatches(newReaperSecret(), a, code), 'another secret');
  assert.ok(!codeMatches(secret, a, code.slice(0, 63)), 'truncated');
  assert.ok(!codeMatches(secret, a, ''), 'empty');
  assert.ok(!codeMatches(secret, a, secret), 'the secret itself');
});

test('actions run on nodejs:18, or the newest Node.js the platform lists', () => {
  assert.equal(pickNodeKind([]), 'nodejs:18');
  assert.equal(pickNodeKind(['python:3.11', 'nodejs:14', 'nodejs:18', 'nodejs:20']), 'nodejs:20');
  assert.equal(pickNodeKind(['nodejs:16']), 'nodejs:18');
});

test("user-data carries the machine's destroy-self link (its own code, never the secret) and reads it back", () => {
  const secret = newReaperSecret();
  const runId = 'thebacknd-00000000-0000-4000-8000-000000000009';
  const link = { url: 'https://faas-ams3-x.doserverless.co/api/v1/web/fn-1/thebacknd/destroy-self', whiskAuth: 'a'.repeat(48), secret };
  const data = buildUserData({ authorizedKeys: [], target: { kind: 'bare' }, reaper: reaperUserData(link, runId) });
  assert.deepEqual(data.reaper, { url: link.url, auth: link.whiskAuth, runId, code: destroyCode(secret, runId) });
  const text = serializeUserData(data);
  assert.ok(!text.includes(secret));
  assert.deepEqual(parseUserData(text).reaper, data.reaper);
  assert.equal(parseUserData(serializeUserData(buildUserData({ authorizedKeys: [], target: { kind: 'bare' } }))).reaper, undefined);
  assert.throws(() => buildUserData({ authorizedKeys: [], target: { kind: 'bare' }, reaper: { ...data.reaper!, code: secret.slice(0, 10) } }), /64 hex digits/);
  assert.throws(() => buildUserData({ authorizedKeys: [], target: { kind: 'bare' }, reaper: { ...data.reaper!, url: 'file:///etc/passwd' } }), /http\(s\) URL/);
});

test('the link the extension keeps in SecretStorage reads back, and anything else reads as no reaper', () => {
  const link = { url: 'https://h/api/v1/web/fn-1/thebacknd/destroy-self', whiskAuth: 'b'.repeat(48), secret: newReaperSecret() };
  assert.deepEqual(decodeReaperLink(encodeReaperLink(link)), link);
  for (const bad of [undefined, '', 'not json', '{"url":"x","whiskAuth":"y","secret":"short"}', '[]']) assert.equal(decodeReaperLink(bad), undefined);
});
