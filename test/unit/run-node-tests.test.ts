// scripts/run-node-tests.mjs, run for real on throwaway test files: every folder and file it is given is run, and a
// failure in any of them is its exit code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const script = path.resolve(__dirname, '../../../scripts/run-node-tests.mjs');

function tree(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-runner-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (rel: string, name: string, ok: boolean) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), `require('node:test').test(${JSON.stringify(name)}, () => { ${ok ? '' : "throw new Error('red');"} });\n`);
  };
  file('a/one.test.js', 'alpha passes', true);
  file('a/deep/two.test.js', 'beta passes', true);
  file('b/three.test.js', 'gamma passes', true);
  file('c/four.test.js', 'delta fails', false);
  file('d/five.test.js', 'epsilon passes', true);
  file('d/six.test.js', 'zeta passes', true);
  return dir;
}

// Without this test's own NODE_TEST_CONTEXT, which would make the script's `node --test` children report to it, not print TAP.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT'));
const run = (dir: string, args: string[]) => spawnSync(process.execPath, [script, ...args], { cwd: dir, env, encoding: 'utf8' });
const ran = (out: string) => [...out.matchAll(/^ok \d+ - (\w+)/gm), ...out.matchAll(/^not ok \d+ - (\w+)/gm)].map((m) => m[1]).sort();

test('every folder and file argument is run, with or without --serial', (t) => {
  const dir = tree(t);
  for (const extra of [[], ['--serial']]) {
    const r = run(dir, ['a', ...extra, 'b', 'd/five.test.js']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(ran(r.stdout), ['alpha', 'beta', 'epsilon', 'gamma']);
  }
});

test('a failure in a later folder is the exit code; a path that is not there is refused', (t) => {
  const dir = tree(t);
  const r = run(dir, ['a', 'c']);
  assert.equal(r.status, 1, r.stdout);
  assert.deepEqual(ran(r.stdout), ['alpha', 'beta', 'delta']);
  const missing = run(dir, ['a', 'nope']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nope/);
  assert.deepEqual(ran(missing.stdout), [], 'nothing runs when a path is wrong');
});
