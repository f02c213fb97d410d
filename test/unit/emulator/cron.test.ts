// The emulator's 5-field cron (scheduled triggers): what matches, in UTC, and what is refused.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { CronError, parseCron } from '../../fixtures/emulator/cron';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

test('every 20 minutes: the next run is the next :00, :20 or :40, strictly after', () => {
  const c = parseCron('*/20 * * * *');
  assert.equal(iso(c.next(at('2026-12-06T19:59:59.999Z'))), '2026-12-06T20:00:00.000Z');
  assert.equal(iso(c.next(at('2026-12-06T20:00:00.000Z'))), '2026-12-06T20:20:00.000Z');
  assert.deepEqual(c.between(at('2026-12-06T20:00:00Z'), at('2026-12-06T21:00:00Z')).map(iso), [
    '2026-12-06T20:20:00.000Z',
    '2026-12-06T20:40:00.000Z',
    '2026-12-06T21:00:00.000Z',
  ]);
});

test('ranges, steps, lists and names; day-of-month and day-of-week restricted together match either', () => {
  assert.equal(iso(parseCron('15 9-17/4 * * MON-FRI').next(at('2026-12-05T00:00:00Z'))), '2026-12-07T09:15:00.000Z'); // Sat → Mon
  assert.equal(iso(parseCron('0 0 1 jan,jul *').next(at('2026-02-01T00:00:00Z'))), '2026-07-01T00:00:00.000Z');
  assert.equal(iso(parseCron('0 12 * * 7').next(at('2026-12-06T12:00:00Z'))), '2026-12-13T12:00:00.000Z'); // 7 = Sunday
  // The 13th or any Friday: Friday 2026-12-11 comes first.
  assert.equal(iso(parseCron('0 0 13 * 5').next(at('2026-12-07T00:00:00Z'))), '2026-12-11T00:00:00.000Z');
  assert.equal(iso(parseCron('0 0 29 2 *').next(at('2026-03-01T00:00:00Z'))), '2028-02-29T00:00:00.000Z');
  assert.equal(iso(parseCron('5/30 * * * *').next(at('2026-12-06T20:06:00Z'))), '2026-12-06T20:35:00.000Z');
});

test('malformed expressions are refused with what is wrong', () => {
  for (const [expr, why] of [
    ['*/20 * * *', /5 fields/],
    ['60 * * * *', /minute 60 is out of range/],
    ['* 24 * * *', /hour 24/],
    ['* * 0 * *', /day of month 0/],
    ['* * * 13 *', /month 13/],
    ['*/0 * * * *', /step/],
    ['5-1 * * * *', /range/],
    ['@hourly', /5 fields/],
    ['* * * FOO *', /invalid month/],
  ] as const) {
    assert.throws(
      () => parseCron(expr),
      (e: unknown) => e instanceof CronError && why.test(e.message),
      expr,
    );
  }
});
