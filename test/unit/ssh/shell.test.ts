// The terminal's shell over a real sshd with a PTY: typed commands print back, resizes reach the PTY, the exit
// status is reported, and failures are written into the terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateEd25519 } from '../../../src/base/ed25519';
import { SshSession, type SshTarget } from '../../../src/ssh/session';
import { ShellBridge } from '../../../src/ssh/shell';
import { startSshdWithNewKeys } from '../../fixtures/sshd';

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function terminal(target: SshTarget): { bridge: ShellBridge; out: () => string; closed: () => number | undefined | 'open' } {
  let text = '';
  let closed: number | undefined | 'open' = 'open';
  const bridge = new ShellBridge(() => SshSession.connect(target), { write: (s) => (text += s), close: (c) => (closed = c) }, `root@${target.host}`);
  return { bridge, out: () => text, closed: () => closed };
}

test('a typed command prints its output back; resize reaches the PTY; a non-zero exit is shown and kept open', { timeout: 60_000 }, async (t) => {
  const { sshd, target } = await startSshdWithNewKeys();
  t.after(() => sshd.close());
  const term = terminal(target);
  t.after(() => term.bridge.dispose());
  term.bridge.input('echo typed-$((6*7))\r'); // typed before the shell is ready: kept and sent
  await term.bridge.open({ cols: 100, rows: 30 });
  await until('the command output', () => /typed-42/.test(term.out()));
  assert.match(term.out(), /Connecting to root@127\.0\.0\.1…/);
  // No pause needed: the window-change request and the typed line go down one SSH connection in order, and sshd
  // applies the new size to the PTY before it passes on the data that follows.
  term.bridge.resize({ cols: 132, rows: 43 });
  term.bridge.input('stty size; tty\r');
  await until('the new size and the PTY name', () => /43 132\r\n\/dev\/pts\/\d+/.test(term.out()));
  term.bridge.input('exit 3\r');
  await until('the exit notice', () => /closed \(exit status 3\)/.test(term.out()));
  assert.equal(term.closed(), 'open', 'stays open so the status can be read');
  term.bridge.input('x');
  assert.equal(term.closed(), 3);
});

test('exit 0 closes the terminal at once', { timeout: 60_000 }, async (t) => {
  const { sshd, target } = await startSshdWithNewKeys();
  t.after(() => sshd.close());
  const term = terminal(target);
  t.after(() => term.bridge.dispose());
  await term.bridge.open(undefined);
  term.bridge.input('exit\r');
  await until('the close', () => term.closed() !== 'open');
  assert.equal(term.closed(), 0);
});

test('a refused connection is written into the terminal, which closes on a key', { timeout: 60_000 }, async (t) => {
  const { sshd, target } = await startSshdWithNewKeys();
  t.after(() => sshd.close());
  const term = terminal({ ...target, hostPublicKey: generateEd25519('impostor').publicKey });
  await term.bridge.open({ cols: 80, rows: 24 });
  assert.match(term.out(), /\x1b\[31mThe host key of 127\.0\.0\.1 does not match the key this machine was created with — possible man-in-the-middle; not connecting\.\x1b\[0m\r\n/);
  assert.match(term.out(), /Press any key to close this terminal/);
  assert.equal(term.closed(), 'open');
  term.bridge.input('\r');
  assert.equal(term.closed(), undefined);
});

test('a dropped connection is shown as lost', { timeout: 60_000 }, async (t) => {
  const { sshd, target } = await startSshdWithNewKeys();
  t.after(() => sshd.close());
  const term = terminal(target);
  t.after(() => term.bridge.dispose());
  await term.bridge.open({ cols: 80, rows: 24 });
  term.bridge.input('echo ready\r');
  await until('the shell', () => /ready\r\n/.test(term.out()));
  await sshd.dropConnections();
  await until('the lost notice', () => /closed \(the connection was lost\)/.test(term.out()));
});
