// Background Nix work (compressing NARs while earlier ones upload) runs at a lower CPU priority, so the uploads and
// the editor get the CPU first on a busy machine. Seen from inside the real nix process: its own /proc/self/stat.
import { test } from 'node:test';
import os from 'node:os';
import assert from 'node:assert/strict';
import { resolveNix, runNix } from '../../../src/nix/run';

/** The nice value of the nix process that ran (field 19 of /proc/self/stat, after the command name). */
async function niceOf(opts: { background?: boolean; raiseOpenFiles?: boolean }): Promise<number> {
  const r = await runNix(['eval', '--raw', '--impure', '--expr', 'builtins.readFile "/proc/self/stat"'], opts, 'stat');
  const fields = r.stdout.slice(r.stdout.lastIndexOf(')') + 2).split(' ');
  return Number(fields[16]);
}

test('background nix runs at nice 10, alone or with the raised open-files limit; other nix calls keep our priority', async () => {
  const own = os.getPriority();
  assert.equal(await niceOf({}), own);
  assert.equal(await niceOf({ background: true }), Math.min(19, own + 10));
  assert.equal(await niceOf({ background: true, raiseOpenFiles: true }), Math.min(19, own + 10));
});

test('without nice on PATH, background nix still runs (at our priority)', async () => {
  const nix = resolveNix();
  assert.ok(nix, 'nix is installed for the tests');
  // A PATH with nothing on it: sh's builtins only, and nix named by its full path.
  const r = await runNix(['eval', '--raw', '--expr', '"ran"'], { background: true, nixBin: nix, env: { ...process.env, PATH: '/nonexistent' } }, 'eval');
  assert.equal(r.stdout, 'ran');
});
