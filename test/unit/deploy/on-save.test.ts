// Deploy on save, with a hand-driven clock and deploys that end when the test says: debounced, one at a time, and a
// newer change cancels the stale deploy and deploys again once it has settled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeployOnSave, type Clock } from '../../../src/deploy/on-save';

function manualClock() {
  const timers = new Map<number, () => void>();
  let next = 1;
  const clock: Clock = {
    setTimeout: (fn) => (timers.set(next, fn), next++),
    clearTimeout: (h) => void timers.delete(h as number),
  };
  return {
    clock,
    pending: () => timers.size,
    fire: () => {
      const all = [...timers.values()];
      timers.clear();
      for (const f of all) f();
    },
  };
}

function deploys() {
  const started: { signal: AbortSignal; finish: () => void }[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  const deploy = (signal: AbortSignal): Promise<void> => {
    concurrent++;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    return new Promise<void>((resolve, reject) => {
      const end = (ok: boolean) => {
        concurrent--;
        if (ok) resolve();
        else reject(new Error('aborted'));
      };
      started.push({ signal, finish: () => end(true) });
      // A cancelled deploy settles once the machine was told (here: at once).
      signal.addEventListener('abort', () => end(false), { once: true });
    });
  };
  return { deploy, started, max: () => maxConcurrent };
}

const tick = () => new Promise((r) => setImmediate(r));

test('saves in a burst make one deploy, after the debounce', async () => {
  const c = manualClock();
  const d = deploys();
  const s = new DeployOnSave(d.deploy, { debounceMs: 1000, clock: c.clock });
  s.changed();
  s.changed();
  s.changed();
  assert.equal(c.pending(), 1, 'one timer, re-armed by each change');
  assert.equal(d.started.length, 0, 'nothing before the debounce ends');
  c.fire();
  assert.equal(d.started.length, 1);
  d.started[0]!.finish();
  await tick();
  assert.equal(s.busy, false);
});

test('a change during a deploy cancels it as stale; the newest state deploys once it settled, never two at once', async () => {
  const c = manualClock();
  const d = deploys();
  const errors: unknown[] = [];
  const s = new DeployOnSave(d.deploy, { debounceMs: 1000, clock: c.clock, onError: (e) => errors.push(e) });
  s.changed();
  c.fire();
  assert.equal(d.started.length, 1);
  s.changed();
  assert.equal(d.started[0]!.signal.aborted, false, 'still running during the debounce');
  c.fire();
  assert.equal(d.started[0]!.signal.aborted, true, 'the stale deploy is cancelled');
  await tick();
  assert.equal(d.started.length, 2, 'the newest state deploys after the cancelled one settled');
  assert.equal(d.started[1]!.signal.aborted, false);
  d.started[1]!.finish();
  await tick();
  assert.equal(d.max(), 1, 'one deploy at a time');
  assert.deepEqual(errors, [], 'a cancelled deploy is not an error');
});

test('a failed deploy is reported; dispose cancels a running one and ignores later changes', async () => {
  const c = manualClock();
  const errors: unknown[] = [];
  let signal: AbortSignal | undefined;
  let calls = 0;
  const s = new DeployOnSave(
    async (sig) => {
      calls++;
      signal = sig;
      if (calls === 1) throw new Error('build failed');
      await new Promise((_, reject) => sig.addEventListener('abort', () => reject(new Error('aborted'))));
    },
    { debounceMs: 10, clock: c.clock, onError: (e) => errors.push(e) },
  );
  s.changed();
  c.fire();
  await tick();
  assert.deepEqual(errors.map(String), ['Error: build failed']);
  s.changed();
  c.fire();
  assert.equal(s.busy, true);
  await s.dispose();
  assert.equal(signal?.aborted, true);
  s.changed();
  assert.equal(c.pending(), 0, 'no timer after dispose');
  assert.equal(calls, 2);
});
