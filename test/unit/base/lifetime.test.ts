// The extension's deactivate cancels what is still running and waits for each cleanup (issue #14, item 5).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Lifetime } from '../../../src/base/lifetime';

test('shutdown aborts every running job and resolves only once each has cleaned up', async () => {
  const life = new Lifetime();
  const cleaned: string[] = [];
  const job = (name: string) =>
    life.run(new AbortController().signal, async (signal) => {
      await once(signal, 'abort');
      await new Promise((r) => setImmediate(r)); // the cleanup takes a turn of the loop (a destroy request)
      cleaned.push(name);
      throw signal.reason;
    });
  const a = job('run').catch(() => 'aborted');
  const b = job('workers').catch(() => 'aborted');
  await life.shutdown();
  assert.deepEqual(cleaned.sort(), ['run', 'workers']);
  assert.deepEqual(await Promise.all([a, b]), ['aborted', 'aborted']);
});

test('a job that ended already is not waited for, and its own cancel still works', async () => {
  const life = new Lifetime();
  assert.equal(await life.run(new AbortController().signal, async () => 7), 7);
  const own = new AbortController();
  const p = life.run(own.signal, (s) => once(s, 'abort').then(() => 'own'));
  own.abort();
  assert.equal(await p, 'own');
  await life.shutdown();
});
