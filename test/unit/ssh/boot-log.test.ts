// The boot log over a real sshd: waits for SSH, streams appended lines, survives an sshd restart without
// repeating a line, and reports stages and the end of the log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isTerminal } from '../../../src/agent/log';
import { streamBootLog, type BootLogEvent } from '../../../src/ssh/boot-log';
import { generateEd25519 } from '../../../src/base/ed25519';
import { freePort, startSshd } from '../../fixtures/sshd';

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

test('boot log: waits for SSH, follows appended lines, reconnects after an sshd restart without repeating lines', { timeout: 60_000 }, async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'thebacknd-bootlog-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'agent.log');
  await fs.writeFile(log, 'thebacknd: stage=keys host=ssh-ed25519 authorized=1\nunpacking channels...\n');
  const host = generateEd25519('boot-host');
  const login = generateEd25519('boot-login');
  const port = await freePort();
  const target = { host: '127.0.0.1', port, username: os.userInfo().username, privateKey: login.privateKey, hostPublicKey: host.publicKey };

  const events: BootLogEvent[] = [];
  const ac = new AbortController();
  t.after(() => ac.abort());
  const done = streamBootLog({ target, command: `tail -n +1 -F ${shq(log)}`, retryIntervalMs: 200, waitDeadlineMs: 30_000, signal: ac.signal }, (e) => events.push(e));
  const lines = (): string[] => events.flatMap((e) => (e.kind === 'line' && e.stream === 'stdout' ? [e.line] : []));
  const statuses = (): string[] => events.flatMap((e) => (e.kind === 'status' ? [e.status] : []));

  // Nothing listens yet: the log says what it waits for.
  await until('a waiting status with a reason', () => events.some((e) => e.kind === 'status' && /\(SSH on 127\.0\.0\.1:\d+ refused the connection/.test(e.message)));
  assert.equal(events[0]?.kind === 'status' && events[0].message, 'Waiting for SSH on 127.0.0.1…');

  const sshd = await startSshd({ hostPrivateKey: host.privateKey, authorizedKeys: [login.publicKey], port });
  t.after(() => sshd.close());
  await until('the existing lines', () => lines().length === 2);
  assert.deepEqual(lines(), ['thebacknd: stage=keys host=ssh-ed25519 authorized=1', 'unpacking channels...']);
  assert.deepEqual(
    events.find((e) => e.kind === 'stage'),
    { kind: 'stage', stage: { stage: 'keys', hostKey: 'ssh-ed25519', authorizedKeys: 1 }, line: 'thebacknd: stage=keys host=ssh-ed25519 authorized=1' },
  );

  await fs.appendFile(log, 'thebacknd: stage=fetch paths=1/2\n');
  await until('an appended line', () => lines().length === 3);

  // sshd goes away (the machine switches), lines keep being written, sshd comes back.
  await sshd.stop();
  await fs.appendFile(log, 'thebacknd: stage=fetch paths=2/2\nthebacknd: stage=switch toplevel=/nix/store/x\n');
  await until('a reconnecting status', () => statuses().includes('reconnecting'));
  // sshd comes back once a reconnect attempt has failed, whenever that is.
  await until('a failed reconnect attempt', () => statuses().slice(statuses().indexOf('reconnecting')).includes('waiting'));
  await sshd.start();
  await fs.appendFile(log, 'thebacknd: stage=done result=switched toplevel=/nix/store/x\nend of test\n');
  // The stream is ordered: once the last line appended is in, any replayed duplicate would be in too.
  await until('the last line appended', () => lines().includes('end of test'));
  assert.deepEqual(lines(), [
    'thebacknd: stage=keys host=ssh-ed25519 authorized=1',
    'unpacking channels...',
    'thebacknd: stage=fetch paths=1/2',
    'thebacknd: stage=fetch paths=2/2',
    'thebacknd: stage=switch toplevel=/nix/store/x',
    'thebacknd: stage=done result=switched toplevel=/nix/store/x',
    'end of test',
  ]);
  assert.deepEqual(
    events.flatMap((e) => (e.kind === 'stage' ? [e.stage.stage] : [])),
    ['keys', 'fetch', 'fetch', 'switch', 'done'],
  );
  const s = statuses();
  assert.equal(s[0], 'waiting');
  assert.ok(s.indexOf('connected') < s.indexOf('reconnecting') && s.indexOf('reconnecting') < s.lastIndexOf('connected'), s.join(','));

  ac.abort();
  assert.deepEqual(await done, { reason: 'aborted' });
});

test('boot log: a command that exits ends the stream with its status; a wrong host key fails it', { timeout: 60_000 }, async (t) => {
  const host = generateEd25519('end-host');
  const login = generateEd25519('end-login');
  const sshd = await startSshd({ hostPrivateKey: host.privateKey, authorizedKeys: [login.publicKey] });
  t.after(() => sshd.close());
  const target = { host: sshd.host, port: sshd.port, username: sshd.user, privateKey: login.privateKey, hostPublicKey: host.publicKey };
  const events: BootLogEvent[] = [];
  const end = await streamBootLog({ target, command: 'printf "a\\nb"; echo err >&2; exit 4' }, (e) => events.push(e));
  assert.deepEqual(end, { reason: 'exited', code: 4, signal: null });
  assert.deepEqual(events.flatMap((e) => (e.kind === 'line' ? [`${e.stream}:${e.line}`] : [])).sort(), ['stderr:err', 'stdout:a', 'stdout:b']);
  const last = events.at(-1);
  assert.ok(last?.kind === 'status' && last.status === 'ended' && /exited with status 4/.test(last.message));

  const impostor = generateEd25519('impostor');
  await assert.rejects(
    streamBootLog({ target: { ...target, hostPublicKey: impostor.publicKey }, command: 'true' }, () => undefined),
    /does not match the key this machine was created with — possible man-in-the-middle/,
  );
});

test('boot log: a run stops following at the terminal stage, while the remote log is still open', { timeout: 60_000 }, async (t) => {
  const host = generateEd25519('until-host');
  const login = generateEd25519('until-login');
  const sshd = await startSshd({ hostPrivateKey: host.privateKey, authorizedKeys: [login.publicKey] });
  t.after(() => sshd.close());
  const target = { host: sshd.host, port: sshd.port, username: sshd.user, privateKey: login.privateKey, hostPublicKey: host.publicKey };
  const lines: string[] = [];
  // The command never ends by itself (`cat` of the channel's stdin, open while the log is followed): returning at
  // all shows the terminal stage ended the follow, not the command.
  const end = await streamBootLog(
    {
      target,
      command:
        'echo "thebacknd: stage=fetch paths=0/0"; echo "thebacknd: stage=failed reason=missing-path message=\\"not in the cache\\" path=/nix/store/abc"; echo after; exec cat',
      until: isTerminal,
    },
    (e) => e.kind === 'line' && lines.push(e.line),
  );
  assert.equal(end.reason, 'finished');
  assert.deepEqual(end.reason === 'finished' && end.stage, { stage: 'failed', reason: 'missing-path', message: 'not in the cache', path: '/nix/store/abc', url: undefined });
  assert.deepEqual(lines, ['thebacknd: stage=fetch paths=0/0', 'thebacknd: stage=failed reason=missing-path message="not in the cache" path=/nix/store/abc']);
});
