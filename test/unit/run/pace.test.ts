// The wait for "running" is paced to the provider: quick first polls, then a ceiling that keeps one waiting run
// well inside the token's rate limits for as long as it may wait.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pollDelayMs, pollsWithin, RUNNING_PACE } from '../../../src/run/pace';

for (const [provider, pace] of Object.entries(RUNNING_PACE)) {
  test(`${provider}: polls fast first, backs off, and one waiting run stays within a quarter of the rate limits`, () => {
    assert.ok(pollDelayMs(pace, 0) <= 500, 'the first poll comes within half a second');
    for (let n = 1; n < 50; n++) assert.ok(pollDelayMs(pace, n) >= pollDelayMs(pace, n - 1), 'never faster than before');
    assert.ok(pollsWithin(pace, 60 * 60_000) <= pace.limits.perHour / 4, `${pollsWithin(pace, 3_600_000)} polls in an hour`);
    if (pace.limits.perMinute) assert.ok(pollsWithin(pace, 60_000) <= pace.limits.perMinute / 4, `${pollsWithin(pace, 60_000)} polls in the first minute`);
  });
}
