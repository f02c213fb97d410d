// `thebacknd shell --workers N`, driven as a person drives it: the real CLI in a real pseudo-terminal (util-linux
// `script`), against the emulator whose workers are real test hosts. The shell is ended each way it can end (exit,
// Ctrl-D, SIGHUP as from a closed terminal, SIGTERM), and every time the workers, hosts and keys are gone after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PLACEMENT, testFlake, TOKEN, workerWorld, type WorkerWorld } from './helpers';

const MAIN = path.resolve(__dirname, '../../../src/cli/main.js');
const TIMEOUT = 240_000;
const CORES = Number(spawnSync('nproc', { encoding: 'utf8' }).stdout.trim());
/** A server type whose CPU count differs from the test hosts' real one, so the default max-jobs shows which it took. */
const SIZE = [
  ['cx22', 2],
  ['cx32', 4],
  ['cx42', 8],
].find(([, cpus]) => cpus !== CORES)![0] as string;

interface Terminal {
  /** Everything the terminal showed so far. */
  text(): string;
  type(s: string): void;
  /** Resolves with the first match of `re` in what the terminal shows from `from` on. */
  wait(re: RegExp, from?: number): Promise<RegExpExecArray>;
  exit: Promise<number | null>;
  /** The CLI's pid: `script`'s child (bash -c, which execs the CLI). */
  cli(): number;
}

/** The CLI under `script`, with a soft open-files limit below the hard one (the shell must raise it). */
function terminal(w: WorkerWorld, env: NodeJS.ProcessEnv = {}): Terminal {
  const cmd = `ulimit -Sn 256; exec ${process.execPath} ${MAIN} shell --workers 1 --provider hetzner --endpoint ${w.emu.hetznerUrl} --image ${PLACEMENT.hetzner.image} --size ${SIZE} --state-dir ${w.storageDir}`;
  const child = spawn('script', ['-qefc', cmd, '/dev/null'], {
    env: { ...w.env, HCLOUD_TOKEN: TOKEN, SHELL: '/bin/bash', TERM: 'dumb', PS1: '$ ', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters: (() => void)[] = [];
  const onData = (b: Buffer) => {
    out += b.toString();
    for (const f of waiters.splice(0)) f();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exit = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return {
    text: () => out,
    type: (s) => child.stdin.write(s),
    wait(re, from = 0) {
      return new Promise((resolve, reject) => {
        // Not a timing assertion: a bound on a hang, so that a failure shows what the terminal showed.
        const stuck = setTimeout(() => reject(new Error(`no ${re} on the terminal after 120 s:\n${out}`)), 120_000);
        const check = () => {
          const m = re.exec(out.slice(from));
          if (m) {
            clearTimeout(stuck);
            return resolve(m);
          }
          if (child.exitCode !== null) {
            clearTimeout(stuck);
            return reject(new Error(`the terminal closed before ${re}:\n${out}`));
          }
          waiters.push(check);
        };
        void exit.then(() => check());
        check();
      });
    },
    exit,
    cli: () => Number(fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0]),
  };
}

async function ready(term: Terminal): Promise<number> {
  await term.wait(/exit \(or Ctrl-D\) destroys the workers\./);
  // The pid of the CLI, as the shell sees its parent (the echo of the typed line shows `$PPID`, not digits).
  term.type('echo "cli-pid=$PPID"\n');
  return Number((await term.wait(/cli-pid=(\d+)/))[1]);
}

async function assertCleaned(w: WorkerWorld, term: Terminal): Promise<void> {
  assert.match(term.text(), /Destroyed thebacknd-1\./);
  assert.match(term.text(), /Cost: 1 worker for up to /);
  await w.assertNothingLeft('hetzner');
}

test('in the shell: $ip $ssh $store $builder, `remote` builds on the worker, files limit raised; `exit 3` destroys the worker', { timeout: TIMEOUT }, async (t) => {
  const w = await workerWorld(t);
  const flake = testFlake(w.dir, `shell-${Date.now()}`);
  const term = terminal(w);
  await ready(term);
  const from = term.text().length;
  term.type('echo "ip=$ip files=$(ulimit -Sn)/$(ulimit -Hn) jobs=$(echo "$builder" | cut -d" " -f4) store=${store%%\\?*}"\n');
  const m = await term.wait(/ip=(\S+) files=(\d+|unlimited)\/(\d+|unlimited) jobs=(\d+) store=(\S+)/, from);
  const [, ip, soft, hard, jobs, store] = m;
  assert.match(ip!, /^10\.\d+\.\d+\.\d+$/);
  assert.equal(soft, hard, 'the soft open-files limit is raised to the hard one');
  assert.notEqual(soft, '256');
  assert.equal(Number(jobs), CORES, `max-jobs is the worker's real core count (nproc ${CORES}), not the ${SIZE} type's`);
  assert.equal(store, `ssh://root@${ip}`);
  term.type('$ssh echo "hello from $(cat /proc/sys/kernel/hostname)" </dev/null\n');
  await term.wait(/^hello from \S+/m, from);
  // `remote` forbids local builds (--max-jobs 0): the derivation can only have been built on the worker.
  term.type(`remote build --json --no-link ${flake.installable('quick')} && echo remote-ok\n`);
  await term.wait(/^remote-ok/m, from);
  assert.match(term.text().slice(from), /"out":"\/nix\/store\/[a-z0-9]{32}-quick"/);
  term.type('exit 3\n');
  assert.equal(await term.exit, 3, "the shell's exit status is the command's");
  await assertCleaned(w, term);
});

test('Ctrl-D ends the shell and destroys the worker', { timeout: TIMEOUT }, async (t) => {
  const w = await workerWorld(t);
  const term = terminal(w);
  await ready(term);
  // Ctrl-D only once the next prompt shows: readline has the terminal then, so the EOF is not lost in a mode switch.
  await term.wait(/cli-pid=\d+[^]*[$#] $/);
  term.type('\x04');
  assert.equal(await term.exit, 0);
  await assertCleaned(w, term);
});

for (const [sig, code] of [
  ['SIGHUP', 129],
  ['SIGTERM', 143],
] as const) {
  test(`${sig} to the CLI (${sig === 'SIGHUP' ? 'the terminal closed' : 'killed'}) ends the shell and destroys the worker`, { timeout: TIMEOUT }, async (t) => {
    const w = await workerWorld(t);
    const term = terminal(w);
    const pid = await ready(term);
    process.kill(pid, sig);
    assert.equal(await term.exit, code);
    await assertCleaned(w, term);
  });
}

// bash 5.2 acts on a SIGHUP that arrives between two commands only once it has read another line: this shell stands
// for it by ignoring SIGHUP outright (it runs what is typed, so $PPID is the CLI's pid as in bash).
test('SIGTERM when the shell does not end on its hang-up: the shell is killed and the worker destroyed', { timeout: TIMEOUT }, async (t) => {
  const w = await workerWorld(t);
  const bin = path.join(w.dir, 'deaf-bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'bash'), `#!/bin/sh\ntrap '' HUP\nwhile IFS= read -r line; do eval "$line"; done\n`, { mode: 0o755 });
  const term = terminal(w, { PATH: `${bin}:${w.env.PATH ?? process.env.PATH ?? ''}` });
  const pid = await ready(term);
  process.kill(pid, 'SIGTERM');
  assert.equal(await term.exit, 143);
  await assertCleaned(w, term);
});

test('SIGTERM while the workers are being created still destroys them', { timeout: TIMEOUT }, async (t) => {
  const w = await workerWorld(t);
  const term = terminal(w);
  await term.wait(/Created thebacknd-1 /);
  process.kill(term.cli(), 'SIGTERM');
  assert.equal(await term.exit, 143);
  assert.match(term.text(), /Destroyed thebacknd-1\./);
  await w.assertNothingLeft('hetzner');
});
