// SSH against a real OpenSSH server on loopback (test/fixtures/sshd.ts):
// - ready latency: from sshd accepting connections to the extension's session being authenticated, (a) for a
//   connection to a host already listening (TCP + handshake + pinned host key + login) and (b) end to end, with
//   waitForSsh waiting while the host comes up at a random moment: TCP probes (default) and 2 s handshakes (before);
// - throughput: 100 MB of text through cat, over ssh2 (the extension's sessions) and over OpenSSH's `ssh`, both
//   as a plain exec channel and as a terminal (a PTY, as the extension's terminal opens it), read into Node, the
//   connection included; OpenSSH with its default cipher and with the one ssh2 negotiates.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startSshd, startSshdWithNewKeys } from '../test/fixtures/sshd';
import { generateEd25519 } from '../src/base/ed25519';
import { SshSession, waitForSsh, type SshTarget } from '../src/ssh/session';
import { ShellBridge } from '../src/ssh/shell';
import { figure, ratio, repeat, type Figure } from './figures';

const MB = 1_000_000;
export const THROUGHPUT_BYTES = 100 * MB;

export async function benchSshReady(repeats: number, e2eRepeats: number): Promise<Figure[]> {
  const { sshd, target } = await startSshdWithNewKeys();
  let handshake: number[];
  try {
    handshake = await repeat(
      repeats,
      async () => {
        const t = performance.now();
        const s = await SshSession.connect(target);
        const elapsed = performance.now() - t;
        s.close();
        return elapsed;
      },
      1,
    );
  } finally {
    await sshd.close();
  }

  // End to end: the waiter runs first; the host starts listening at a random moment within 2 s. Measured both ways
  // in the same run: TCP probes every 100 ms then the handshake (the default), and a handshake every 2 s (before).
  const host = generateEd25519('bench-host');
  const login = generateEd25519('bench-login');
  const e2e = (probeIntervalMs: number) =>
    repeat(e2eRepeats, async () => {
      const port = await freePort();
      const t: SshTarget = { host: '127.0.0.1', port, username: os.userInfo().username, privateKey: login.privateKey, hostPublicKey: host.publicKey };
      const ready = waitForSsh(t, { deadlineMs: 60_000, intervalMs: 2_000, probeIntervalMs }).then((s) => (s.close(), performance.now()));
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 2000));
      const server = await startSshd({ hostPrivateKey: host.privateKey, authorizedKeys: [login.publicKey], port });
      const accepting = performance.now();
      try {
        return (await ready) - accepting;
      } finally {
        await server.close();
      }
    });
  const probed = await e2e(100);
  const polled = await e2e(0);
  const a = figure('SSH ready', 'listening host → authenticated session (ssh2)', 'ms', handshake);
  const b = figure('SSH ready', 'host starts listening → waitForSsh resolves (100 ms TCP probes)', 'ms', probed, 'goal: within 200 ms');
  const c = figure('SSH ready', 'host starts listening → waitForSsh resolves (handshake every 2 s, before)', 'ms', polled);
  return [a, ratio(b, a, 'handshake'), ratio(c, b, 'probes')];
}

/** MB/s of the extension's ssh2 path running `command`, connection included: an exec channel, or the terminal. */
async function viaSsh2(target: SshTarget, command: string, pty: boolean): Promise<number> {
  const t = performance.now();
  let received = 0;
  if (pty) {
    // The terminal's own bridge (src/ssh/shell.ts): PTY, UTF-8 decoding, text handed to the Pseudoterminal.
    await new Promise<void>((resolve, reject) => {
      const bridge = new ShellBridge(
        () => SshSession.connect(target),
        {
          write: (text) => (received += text.length),
          close: (code) => (code === 0 ? resolve() : reject(new Error(`the terminal closed with ${code}`))),
        },
        'bench',
      );
      void bridge.open({ cols: 200, rows: 50 }).then(() => bridge.input(`stty -echo; ${command}; exit\n`));
    });
  } else {
    const s = await SshSession.connect(target);
    try {
      await s.exec(command, { onStdout: (d) => (received += d.length) });
    } finally {
      s.close();
    }
  }
  const seconds = (performance.now() - t) / 1000;
  if (received < THROUGHPUT_BYTES) throw new Error(`ssh2 read ${received} bytes, fewer than sent`);
  return THROUGHPUT_BYTES / MB / seconds;
}

/** MB/s of OpenSSH's ssh client running `command` (-T exec, or -tt on a PTY), connection included. */
function viaOpenSsh(target: SshTarget, keyFile: string, knownHosts: string, command: string, pty: boolean, cipher?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = [
      pty ? '-tt' : '-T',
      ...(cipher ? ['-c', cipher] : []),
      '-i',
      keyFile,
      '-p',
      String(target.port),
      '-o',
      `UserKnownHostsFile=${knownHosts}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'LogLevel=ERROR',
      `${target.username}@${target.host}`,
      command,
    ];
    const t = performance.now();
    const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let err = '';
    child.stdout.on('data', (d: Buffer) => (bytes += d.length));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - t) / 1000;
      if (code !== 0 || bytes < THROUGHPUT_BYTES) return reject(new Error(`ssh exited ${code} after ${bytes} bytes: ${err.trim()}`));
      resolve(THROUGHPUT_BYTES / MB / seconds);
    });
  });
}

export async function benchSshThroughput(repeats: number): Promise<Figure[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-bench-ssh-'));
  const { sshd, target, login, host } = await startSshdWithNewKeys();
  try {
    // Text, as a terminal shows it: base64 lines of random bytes.
    const file = path.join(dir, 'data.txt');
    const fd = fs.openSync(file, 'w');
    const chunk = () =>
      (
        randomBytes(57 * 1000)
          .toString('base64')
          .match(/.{76}/g) ?? []
      ).join('\n') + '\n';
    let written = 0;
    while (written < THROUGHPUT_BYTES) {
      const c = chunk().slice(0, THROUGHPUT_BYTES - written);
      fs.writeSync(fd, c);
      written += c.length;
    }
    fs.closeSync(fd);
    const keyFile = path.join(dir, 'login');
    fs.writeFileSync(keyFile, login.privateKey, { mode: 0o600 });
    const knownHosts = path.join(dir, 'known_hosts');
    fs.writeFileSync(knownHosts, `[${target.host}]:${target.port} ${host.publicKey}\n`);
    const command = `cat ${file}`;
    // ssh2 negotiates aes128-gcm with OpenSSH's sshd; OpenSSH's client prefers chacha20-poly1305. Both are shown.
    const GCM = 'aes128-gcm@openssh.com';
    const run = (name: string, fn: () => Promise<number>, note?: string) => repeat(repeats, fn, 1).then((xs) => figure('SSH throughput', name, 'MB/s', xs, note));
    const ssh2Exec = await run('ssh2 exec: cat 100 MB', () => viaSsh2(target, command, false), 'aes128-gcm, as negotiated');
    const sshExec = await run('OpenSSH ssh -T: cat 100 MB', () => viaOpenSsh(target, keyFile, knownHosts, command, false), 'its default: chacha20-poly1305');
    const sshExecGcm = await run('OpenSSH ssh -T -c aes128-gcm: cat 100 MB', () => viaOpenSsh(target, keyFile, knownHosts, command, false, GCM));
    const ssh2Pty = await run('ssh2 terminal (PTY): cat 100 MB', () => viaSsh2(target, command, true), 'aes128-gcm, as negotiated');
    const sshPty = await run('OpenSSH ssh -tt (PTY): cat 100 MB', () => viaOpenSsh(target, keyFile, knownHosts, command, true), 'its default: chacha20-poly1305');
    const sshPtyGcm = await run('OpenSSH ssh -tt -c aes128-gcm (PTY): cat 100 MB', () => viaOpenSsh(target, keyFile, knownHosts, command, true, GCM));
    return [ratio(ssh2Exec, sshExec, 'OpenSSH'), sshExec, ratio(sshExecGcm, ssh2Exec, 'ssh2'), ratio(ssh2Pty, sshPty, 'OpenSSH'), sshPty, ratio(sshPtyGcm, ssh2Pty, 'ssh2')];
  } finally {
    await sshd.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
