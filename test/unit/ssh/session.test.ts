// ssh2 sessions against a real sshd: the pinned key is the only key accepted, and "wait until SSH answers" waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { generateEd25519 } from '../../../src/base/ed25519';
import { HostKeyMismatchError, SshSession, waitForSsh } from '../../../src/ssh/session';
import { UserError } from '../../../src/base/errors';
import { freePort, startSshd, startSshdWithNewKeys } from '../../fixtures/sshd';

test('connects with the pinned host key, runs a command, streams its output and exit status, feeds stdin', { timeout: 60_000 }, async (t) => {
  const { sshd, target } = await startSshdWithNewKeys();
  t.after(() => sshd.close());
  const session = await SshSession.connect(target);
  t.after(() => session.close());
  const chunks: string[] = [];
  const res = await session.exec('for i in 1 2 3; do echo line$i; done; echo oops >&2; exit 7', {
    onStdout: (d) => chunks.push(d.toString()),
  });
  assert.deepEqual(res, { code: 7, signal: null });
  assert.equal(chunks.join(''), 'line1\nline2\nline3\n');
  const whoami = await session.run('id -un');
  assert.equal(whoami.stdout.trim(), sshd.user);
  // A credential goes through stdin, never the command line.
  const cred = await session.run('umask 077; cat > "$HOME/.thebacknd-test-cred-$$" && cat "$HOME/.thebacknd-test-cred-$$" && rm "$HOME/.thebacknd-test-cred-$$"', { stdin: 'AKIA-secret\n' });
  assert.equal(cred.stdout, 'AKIA-secret\n');
  assert.equal(cred.code, 0);
});

test('a host answering with another key is refused as a possible man-in-the-middle, at once', { timeout: 60_000 }, async (t) => {
  const { sshd, target } = await startSshdWithNewKeys();
  t.after(() => sshd.close());
  const impostor = generateEd25519('impostor');
  const pinnedToOther = { ...target, hostPublicKey: impostor.publicKey };
  const expected = (e: unknown): boolean =>
    e instanceof HostKeyMismatchError &&
    e instanceof UserError &&
    e.message.includes('host key of 127.0.0.1 does not match the key this machine was created with') &&
    e.message.includes('possible man-in-the-middle; not connecting');
  await assert.rejects(SshSession.connect(pinnedToOther), expected);
  const started = Date.now();
  await assert.rejects(waitForSsh(pinnedToOther, { deadlineMs: 30_000, intervalMs: 200 }), expected);
  assert.ok(Date.now() - started < 5_000, 'a mismatch is not retried by default');
  // The server never saw an authentication attempt from us.
  assert.doesNotMatch(sshd.log(), /Accepted publickey/);
});

test('waitForSsh retries until the port opens, then connects', { timeout: 60_000 }, async (t) => {
  const port = await freePort();
  const host = generateEd25519('late-host');
  const login = generateEd25519('late-login');
  const target = { host: '127.0.0.1', port, username: (await import('node:os')).userInfo().username, privateKey: login.privateKey, hostPublicKey: host.publicKey };
  const attempts: string[] = [];
  const waiting = waitForSsh(target, { deadlineMs: 20_000, intervalMs: 200, onAttempt: (_n, e) => attempts.push(e.message) });
  await new Promise((r) => setTimeout(r, 1_200));
  const sshd = await startSshd({ hostPrivateKey: host.privateKey, authorizedKeys: [login.publicKey], port });
  t.after(() => sshd.close());
  const session = await waiting;
  t.after(() => session.close());
  assert.ok(attempts.length >= 2, `retried (${attempts.length})`);
  assert.match(attempts[0]!, /refused the connection/);
  assert.equal((await session.run('echo up')).stdout, 'up\n');
});

test('waitForSsh gives up at its deadline with the reason, and stops when aborted', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const host = generateEd25519('h');
  const login = generateEd25519('l');
  const target = { host: '127.0.0.1', port, privateKey: login.privateKey, hostPublicKey: host.publicKey };
  await assert.rejects(waitForSsh(target, { deadlineMs: 1_000, intervalMs: 200 }), (e: unknown) => e instanceof UserError && /did not answer within 1 s \(last attempt: SSH on 127\.0\.0\.1:\d+ refused the connection/.test(e.message));
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 300);
  const started = Date.now();
  await assert.rejects(waitForSsh(target, { deadlineMs: 20_000, intervalMs: 200, signal: ac.signal }), { name: 'AbortError' });
  assert.ok(Date.now() - started < 3_000);
});

test('a login key the machine does not know is reported as such', { timeout: 60_000 }, async (t) => {
  const { sshd, target } = await startSshdWithNewKeys();
  t.after(() => sshd.close());
  const stranger = generateEd25519('stranger');
  await assert.rejects(SshSession.connect({ ...target, privateKey: stranger.privateKey }), /refused this machine's login key/);
});

test('a dropped connection ends a running command without an exit status', { timeout: 60_000 }, async (t) => {
  const { sshd, target } = await startSshdWithNewKeys();
  t.after(() => sshd.close());
  const session = await SshSession.connect(target);
  let closed = false;
  session.onClose(() => (closed = true));
  const running = session.exec('echo started; sleep 30', {});
  await new Promise((r) => setTimeout(r, 300));
  await sshd.dropConnections();
  assert.deepEqual(await running, { code: null, signal: null });
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(closed && session.closed);
});

test('a server that accepts TCP but never speaks SSH times out, and is retried until the deadline', { timeout: 60_000 }, async (t) => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });
  const { port } = silent.address() as net.AddressInfo;
  const target = { host: '127.0.0.1', port, privateKey: generateEd25519('l').privateKey, hostPublicKey: generateEd25519('h').publicKey };
  const attempts: string[] = [];
  await assert.rejects(
    waitForSsh(target, { timeoutMs: 1_000, deadlineMs: 2_500, intervalMs: 100, onAttempt: (_n, e) => attempts.push(e.message) }),
    /did not answer within 3 s \(last attempt: SSH on 127\.0\.0\.1:\d+ did not answer in time\.\)/,
  );
  assert.ok(attempts.length >= 2, `retried (${attempts.length})`);
});

test('hostKeyMismatch "retry" waits through a temporary host key until the pinned one answers', { timeout: 60_000 }, async (t) => {
  const { sshd, host, target } = await startSshdWithNewKeys();
  t.after(() => sshd.close());
  await sshd.start({ hostPrivateKey: generateEd25519('temporary').privateKey });
  const attempts: string[] = [];
  const waiting = waitForSsh(target, { deadlineMs: 20_000, intervalMs: 200, hostKeyMismatch: 'retry', onAttempt: (_n, e) => attempts.push(e.message) });
  await new Promise((r) => setTimeout(r, 800));
  await sshd.start({ hostPrivateKey: host.privateKey });
  const session = await waiting;
  t.after(() => session.close());
  assert.match(attempts[0]!, /possible man-in-the-middle/);
  assert.equal((await session.run('echo pinned')).stdout, 'pinned\n');
});

test('a server that hangs up before the handshake ends the attempt instead of leaving it pending', { timeout: 60_000 }, async (t) => {
  const sockets = new Set<net.Socket>();
  const hangUp = net.createServer((s) => {
    sockets.add(s);
    s.end('SSH-2.0-OpenSSH_9.2\r\n');
  });
  await new Promise<void>((r) => hangUp.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    hangUp.close();
  });
  const { port } = hangUp.address() as net.AddressInfo;
  const target = { host: '127.0.0.1', port, privateKey: generateEd25519('l').privateKey, hostPublicKey: generateEd25519('h').publicKey };
  const started = Date.now();
  await assert.rejects(SshSession.connect(target, { timeoutMs: 30_000 }), (e: unknown) => e instanceof UserError && /closed the connection/.test(e.message));
  assert.ok(Date.now() - started < 5_000);
});

test('waitForSsh probes the port between handshakes: it connects once the port opens, not at its next handshake retry', { timeout: 30_000 }, async (t) => {
  const port = await freePort();
  const host = generateEd25519('probed-host');
  const login = generateEd25519('probed-login');
  const target = { host: '127.0.0.1', port, username: (await import('node:os')).userInfo().username, privateKey: login.privateKey, hostPublicKey: host.publicKey };
  let firstFailure!: () => void;
  const failed = new Promise<void>((r) => (firstFailure = r));
  // A handshake retry interval far beyond the test's timeout: only the probes can notice the port opening.
  const waiting = waitForSsh(target, { deadlineMs: 120_000, intervalMs: 60_000, onAttempt: () => firstFailure() });
  await failed;
  const sshd = await startSshd({ hostPrivateKey: host.privateKey, authorizedKeys: [login.publicKey], port });
  t.after(() => sshd.close());
  const session = await waiting;
  t.after(() => session.close());
  assert.equal((await session.run('echo up')).stdout, 'up\n');
});
