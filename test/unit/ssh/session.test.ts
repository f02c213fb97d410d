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
  const cred = await session.run('umask 077; cat > "$HOME/.thebacknd-test-cred-$$" && cat "$HOME/.thebacknd-test-cred-$$" && rm "$HOME/.thebacknd-test-cred-$$"', {
    stdin: 'AKIA-secret\n',
  });
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
  // Not retried by default: no failed attempt is reported (a retry reports one first), and with a 10 min deadline a
  // retrying wait would not end within the test's timeout.
  const attempts: string[] = [];
  await assert.rejects(waitForSsh(pinnedToOther, { deadlineMs: 600_000, intervalMs: 200, onAttempt: (_n, e) => attempts.push(e.message) }), expected);
  assert.deepEqual(attempts, [], 'a mismatch is not retried by default');
  // The server never saw an authentication attempt from us.
  assert.doesNotMatch(sshd.log(), /Accepted publickey/);
});

test('waitForSsh retries until the port opens, then connects', { timeout: 60_000 }, async (t) => {
  const port = await freePort();
  const host = generateEd25519('late-host');
  const login = generateEd25519('late-login');
  const target = { host: '127.0.0.1', port, username: (await import('node:os')).userInfo().username, privateKey: login.privateKey, hostPublicKey: host.publicKey };
  const attempts: string[] = [];
  let twice!: () => void;
  const failedTwice = new Promise<void>((r) => (twice = r));
  const waiting = waitForSsh(target, {
    deadlineMs: 600_000,
    intervalMs: 200,
    onAttempt: (_n, e) => {
      if (attempts.push(e.message) === 2) twice();
    },
  });
  // The port opens once two attempts have failed, whenever that is.
  await failedTwice;
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
  await assert.rejects(
    waitForSsh(target, { deadlineMs: 1_000, intervalMs: 200 }),
    (e: unknown) => e instanceof UserError && /did not answer within 1 s \(last attempt: SSH on 127\.0\.0\.1:\d+ refused the connection/.test(e.message),
  );
  // Aborted at its first failed attempt; the 10 min deadline is not what ends it (the test's timeout is far shorter).
  const ac = new AbortController();
  let attempts = 0;
  await assert.rejects(waitForSsh(target, { deadlineMs: 600_000, intervalMs: 200, signal: ac.signal, onAttempt: () => (attempts++, ac.abort()) }), { name: 'AbortError' });
  assert.equal(attempts, 1, 'no attempt after the abort');
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
  const closed = new Promise<void>((r) => session.onClose(r));
  let started!: () => void;
  const commandStarted = new Promise<void>((r) => (started = r));
  const running = session.exec('echo started; sleep 30', { onStdout: (d) => d.toString().includes('started') && started() });
  await commandStarted;
  await sshd.dropConnections();
  assert.deepEqual(await running, { code: null, signal: null });
  await closed;
  assert.ok(session.closed);
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
  // At the deadline, the reason is the last attempt's.
  await assert.rejects(
    waitForSsh(target, { timeoutMs: 1_000, deadlineMs: 2_500, intervalMs: 100 }),
    /did not answer within 3 s \(last attempt: SSH on 127\.0\.0\.1:\d+ did not answer in time\.\)/,
  );
  // Retried: counted by attempts, not by how many fit in a deadline. The wait is stopped at its second failed
  // attempt (a 10 min deadline would not end it within the test's timeout).
  const attempts: string[] = [];
  const ac = new AbortController();
  await assert.rejects(
    waitForSsh(target, { timeoutMs: 1_000, deadlineMs: 600_000, intervalMs: 100, signal: ac.signal, onAttempt: (_n, e) => attempts.push(e.message) === 2 && ac.abort() }),
    { name: 'AbortError' },
  );
  assert.equal(attempts.length, 2);
  for (const a of attempts) assert.match(a, /SSH on 127\.0\.0\.1:\d+ did not answer in time\./);
});

test('hostKeyMismatch "retry" waits through a temporary host key until the pinned one answers', { timeout: 60_000 }, async (t) => {
  const { sshd, host, target } = await startSshdWithNewKeys();
  t.after(() => sshd.close());
  await sshd.start({ hostPrivateKey: generateEd25519('temporary').privateKey });
  const attempts: string[] = [];
  let refused!: () => void;
  const refusedOnce = new Promise<void>((r) => (refused = r));
  const waiting = waitForSsh(target, {
    deadlineMs: 600_000,
    intervalMs: 200,
    hostKeyMismatch: 'retry',
    onAttempt: (_n, e) => {
      attempts.push(e.message);
      refused();
    },
  });
  // The pinned key comes back once the temporary one has been refused.
  await refusedOnce;
  await sshd.start({ hostPrivateKey: host.privateKey });
  const session = await waiting;
  t.after(() => session.close());
  assert.match(attempts[0]!, /possible man-in-the-middle/);
  assert.equal((await session.run('echo pinned')).stdout, 'pinned\n');
});

test('hostKeyMismatch "retry" refuses a wrong host key that does not go away, long before the deadline', { timeout: 60_000 }, async (t) => {
  const { sshd, target } = await startSshdWithNewKeys();
  t.after(() => sshd.close());
  await sshd.start({ hostPrivateKey: generateEd25519('never-the-pinned-one').privateKey });
  const attempts: string[] = [];
  // A 10 min deadline that a wait retrying until it would run into long after the test's own timeout.
  await assert.rejects(
    waitForSsh(target, { deadlineMs: 600_000, intervalMs: 50, hostKeyMismatch: 'retry', hostKeyMismatchRetries: 2, onAttempt: (_n, e) => attempts.push(e.message) }),
    (e: unknown) => e instanceof HostKeyMismatchError && /possible man-in-the-middle/.test(e.message),
  );
  assert.equal(attempts.length, 2, 'two retries, then the third wrong key is refused');
  assert.doesNotMatch(sshd.log(), /Accepted publickey/);
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
  // The cause, not a stopwatch: the hang-up's message (a timeout says "did not answer in time"), with a 10 min
  // timeout that a pending attempt would run into long after the test's own.
  await assert.rejects(SshSession.connect(target, { timeoutMs: 600_000 }), (e: unknown) => e instanceof UserError && /closed the connection/.test(e.message));
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
