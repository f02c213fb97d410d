// Runs node:test files (out/test/unit/**/*.test.js, or those under every folder and each file named), two at a time,
// each in its own `node --test` process, and prints each file's TAP output whole when it ends. A file whose process
// makes no progress for FILE_TIMEOUT is killed and run once more: a deadlocked process (main thread in a futex, as
// Node 20's JWK export of a fresh key once did, see src/ssh/keys.ts) cannot be caught by a per-test timeout and
// would otherwise hang CI. A retry that then passes is still printed, so a hang never goes unnoticed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const given = args.filter((a) => !a.startsWith('--'));
const roots = (given.length ? given : ['out/test/unit']).map((a) => path.resolve(a));
const FILE_TIMEOUT_MS = Number(process.env.THEBACKND_TEST_FILE_TIMEOUT_MS ?? 8 * 60_000);
// --serial: one file at a time (the browser tests share dist/ and the machine's two cores).
const CONCURRENCY = args.includes('--serial') ? 1 : 2;

const found = new Set();
function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.test.js')) found.add(p);
  }
}
for (const root of roots) {
  let stat;
  try {
    stat = fs.statSync(root);
  } catch {
    console.error(`no such test folder or file: ${root}`);
    process.exit(1);
  }
  // A file named on the command line is run whatever its name; a folder gives its *.test.js files.
  if (stat.isDirectory()) walk(root);
  else found.add(root);
}
const files = [...found].sort();
const label = roots.map((r) => path.relative(process.cwd(), r) || '.').join(' ');
if (files.length === 0) {
  console.error(`no test files under ${label}`);
  process.exit(1);
}

function runOnce(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let timer;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        out += `\n# ${path.relative(process.cwd(), file)}: no progress for ${FILE_TIMEOUT_MS / 1000} s, killed\n`;
        child.kill('SIGKILL');
      }, FILE_TIMEOUT_MS);
    };
    arm();
    child.stdout.on('data', (d) => ((out += d), arm()));
    child.stderr.on('data', (d) => ((out += d), arm()));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, hung: signal === 'SIGKILL', out });
    });
  });
}

let failed = 0;
const queue = [...files];
async function worker() {
  for (let file = queue.shift(); file; file = queue.shift()) {
    let r = await runOnce(file);
    if (r.hung) {
      process.stdout.write(
        r.out
          .split('\n')
          .filter((l) => !/^# (pass|fail|cancelled|tests) /.test(l))
          .join('\n'),
      );
      process.stdout.write(`\n# retrying ${path.relative(process.cwd(), file)}\n`);
      r = await runOnce(file);
    }
    process.stdout.write(r.out);
    if (r.code !== 0) failed++;
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, worker));
console.log(`${label}: ${files.length} files, ${failed} with failures`);
process.exit(failed ? 1 : 0);
