// Big builds on workers: the local `nix build` runs with the soft open-files limit raised to the hard one (Nix holds
// a lock file per derivation). Seen from inside the real nix process: it reads its own /proc/self/limits. Node raises
// its own soft limit at startup, so the test lowers it afterwards (prlimit), as an embedding host might have.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const RUN = path.resolve(__dirname, '../../../src/nix/run.js');

test('raiseOpenFiles gives nix the hard open-files limit as its soft one; without it, nix inherits the low one', () => {
  const script = `
    const { runNix } = require(${JSON.stringify(RUN)});
    require('node:child_process').execFileSync('prlimit', ['--pid', String(process.pid), '--nofile=256:']);
    const ask = (raise) => runNix(['eval', '--raw', '--impure', '--expr', 'builtins.readFile "/proc/self/limits"'], { raiseOpenFiles: raise }, 'limits')
      .then((r) => r.stdout.split('\\n').find((l) => l.startsWith('Max open files')).split(/\\s{2,}/).slice(1, 3).join('/'));
    Promise.all([ask(false), ask(true)]).then((x) => console.log(JSON.stringify(x)), (e) => { console.error(e); process.exit(1); });
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const [plain, raised] = JSON.parse(r.stdout) as [string, string];
  const hard = plain.split('/')[1];
  assert.equal(plain, `256/${hard}`);
  assert.equal(raised, `${hard}/${hard}`);
  assert.notEqual(hard, '256', 'the hard limit here is above 256, so the raise is visible');
});
