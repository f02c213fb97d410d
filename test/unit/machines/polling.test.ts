// When the tree lists again, and the server clock it measures time left on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { POLL, pollDelay } from '../../../src/machines/polling';
import { ServerClock } from '../../../src/machines/server-clock';

test('fast while something is in transition, slow while visible, paused while hidden and idle', () => {
  assert.equal(pollDelay({ inTransition: true, visible: false, failures: 0 }), POLL.fastMs);
  assert.equal(pollDelay({ inTransition: true, visible: true, failures: 0 }), POLL.fastMs);
  assert.equal(pollDelay({ inTransition: false, visible: true, failures: 0 }), POLL.slowMs);
  assert.equal(pollDelay({ inTransition: false, visible: false, failures: 0 }), undefined);
  assert.ok(POLL.fastMs < POLL.slowMs);
});

test('errors back off exponentially, up to a cap, and stay paused while hidden', () => {
  const delays = [1, 2, 3, 4, 5, 6, 20].map((failures) => pollDelay({ inTransition: false, visible: true, failures })!);
  for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! >= delays[i - 1]!, `non-decreasing: ${delays.join(', ')}`);
  assert.ok(delays[1]! > delays[0]!, 'the second failure waits longer than the first');
  assert.equal(delays.at(-1), POLL.maxBackoffMs);
  assert.ok(pollDelay({ inTransition: true, visible: true, failures: 3 })! > POLL.fastMs, 'a transition does not defeat the backoff');
  assert.equal(pollDelay({ inTransition: false, visible: false, failures: 3 }), undefined);
});

test('the server clock: local time moved by the offset of the last Date seen', () => {
  let local = Date.parse('2026-11-23T12:00:00Z');
  const clock = new ServerClock(() => local);
  assert.equal(clock.known, false);
  assert.equal(clock.now(), local, 'the local clock until a first answer');
  // The server says 12:10 when our clock says 12:00: it is 10 minutes ahead.
  clock.observe(new Date('2026-11-23T12:10:00Z'));
  local += 5_000;
  assert.equal(clock.now(), Date.parse('2026-11-23T12:10:05Z'));
  assert.equal(clock.offset, 600_000);
  clock.observe(new Date('garbage'));
  assert.equal(clock.offset, 600_000, 'an unreadable date changes nothing');
});
