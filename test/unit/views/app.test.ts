// The app object's owner: what activation builds is disposed in reverse, each part once, even when one part fails;
// and the app's type sits where both commands/ and views/ reach it downward (no registry looked up at run time, no
// arrow from views/ back up to commands/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Owner } from '../../../src/views/owner';

const root = path.resolve(__dirname, '../../../..');

test('parts are disposed in the reverse order they were owned, each once, past one that throws', () => {
  const errors: unknown[] = [];
  const owner = new Owner((err) => errors.push(err));
  const order: string[] = [];
  const part = (name: string, fail = false) => ({
    dispose() {
      order.push(name);
      if (fail) throw new Error(`${name} failed`);
    },
  });
  for (const name of ['output', 'machines.tree', 'machines.reaper']) owner.own(part(name));
  owner.own(part('runs.panels', true));
  owner.own(part('commands'));
  owner.dispose();
  owner.dispose();
  assert.deepEqual(order, ['commands', 'runs.panels', 'machines.reaper', 'machines.tree', 'output']);
  assert.equal(errors.length, 1, 'the failing part is reported, not thrown');
  assert.equal(owner.isDisposed, true);
});

test('a part owned after disposal (a late callback) is disposed at once instead of leaking', async () => {
  const owner = new Owner();
  owner.dispose();
  let disposed = 0;
  const late = owner.own({ dispose: () => void disposed++ });
  assert.equal(disposed, 1);
  owner.dispose();
  assert.equal(disposed, 1, 'not disposed twice');
  // An async dispose that rejects is reported too, never an unhandled rejection.
  const errors: unknown[] = [];
  const o2 = new Owner((e) => errors.push(e));
  o2.own({ dispose: () => Promise.reject(new Error('no')) });
  o2.dispose();
  await new Promise((r) => setImmediate(r));
  assert.equal(errors.length, 1);
  assert.ok(late);
});

function* sources(dir: string): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

test('views/ never imports commands/, and no service is looked up in a hidden registry', () => {
  const upward: string[] = [];
  const registries: string[] = [];
  for (const dir of ['src/views', 'src/commands']) {
    for (const file of sources(path.join(root, dir))) {
      const rel = path.relative(root, file);
      const text = fs.readFileSync(file, 'utf8');
      if (dir === 'src/views' && /from\s+['"]\.\.\/commands\//.test(text)) upward.push(rel);
      if (/new WeakMap<Ctx\b/.test(text)) registries.push(rel);
    }
  }
  assert.deepEqual(upward, [], `views/ imports commands/: ${upward.join(', ')}`);
  assert.deepEqual(registries, [], `services kept in a WeakMap keyed by the context: ${registries.join(', ')}`);
});
