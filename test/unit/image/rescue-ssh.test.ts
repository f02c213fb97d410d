// Connecting to a rescue system that hangs up before login (an sshd going down for the reset, or refusing more
// connections) is one failed attempt among others, never an attempt that waits for ever: real TCP peers that close.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { UserError } from '../../../src/base/errors';
import { generateEd25519 } from '../../../src/base/ed25519';
import { connectRescue } from '../../../src/image/rescue-ssh';

const servers: net.Server[] = [];
let banner: number;

function listen(onSocket: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer(onSocket);
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

before(async () => {
  banner = await listen((s) => s.end('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'));
});

after(() => {
  for (const s of servers) s.close();
});

// ssh2 reports a socket that closes before the banner as an error; after the banner, it just closes.
test('a rescue system that hangs up after its banner is retried, then fails with a clear error', { timeout: 30_000 }, async () => {
  const attempts: string[] = [];
  const { privateKey } = generateEd25519('thebacknd-test');
  await assert.rejects(
    connectRescue({ host: '127.0.0.1', port: banner, privateKey }, { timeoutMs: 1500, retryDelayMs: 100, onAttempt: (m) => attempts.push(m) }),
    (e: unknown) => e instanceof UserError && /did not accept the import key within 2 s \(last attempt: the connection was closed before login\)/.test(e.message),
  );
  assert.ok(
    attempts.some((a) => a.endsWith('not ready: the connection was closed before login')),
    attempts.join('\n'),
  );
});
