// The boot agent (nix/agent/thebacknd-agent.sh) on real test hosts: network namespaces with their own address,
// the provider's metadata service at 169.254.169.254, sshd on port 22, an empty Nix store, and an S3 binary cache
// (s3rver) holding signed test closures pushed with client-s3.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'ssh2';
import type { AgentEvent } from '../../../src/agent/log';
import { buildUserData, serializeUserData, type BootTarget, type UserDataCache } from '../../../src/agent/user-data';
import { generateEd25519, type KeyPair } from '../../../src/base/ed25519';
import { push } from '../../../src/nix/push';
import {
  buildTestClosures,
  createTestHost,
  NIX_ENV,
  REBOOT_MARKER,
  SERVICE_PORT,
  startHostCache,
  type HostCache,
  type HostProvider,
  type TestClosures,
  type TestHost,
  type TestHostOptions,
} from '../../fixtures/testhost';

let work: string;
let closures: TestClosures;
let cache: HostCache;
let hostKey: KeyPair;
let loginKey: KeyPair;
const hosts: TestHost[] = [];

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-agent-test-'));
  closures = await buildTestClosures(work);
  cache = await startHostCache();
  await cache.upload(closures.cacheDir);
  hostKey = await generateEd25519('thebacknd-host');
  loginKey = await generateEd25519('thebacknd-login');
});

after(async () => {
  await Promise.all(hosts.map((h) => h.close()));
  await cache?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

function userData(target: BootTarget, cacheOverrides: Partial<UserDataCache> = {}): string {
  return serializeUserData(
    buildUserData({
      hostKey: { private: hostKey.privateKey, public: hostKey.publicKey },
      authorizedKeys: [loginKey.publicKey],
      cache: { url: cache.url, trustedPublicKey: closures.publicKey, private: false, ...cacheOverrides },
      target,
    }),
  );
}

async function host(opts: Partial<TestHostOptions> & { userData: string }): Promise<TestHost> {
  const h = await createTestHost({ provider: 'digitalocean', ...opts } as TestHostOptions);
  hosts.push(h);
  return h;
}

function stages(events: AgentEvent[]): string[] {
  return events.map((e) => (e.stage === 'fetch' ? `fetch ${e.done}/${e.total}` : e.stage === 'done' ? `done ${e.result}` : e.stage));
}

function failure(events: AgentEvent[]): Extract<AgentEvent, { stage: 'failed' }> {
  const last = events[events.length - 1];
  assert.equal(last?.stage, 'failed', `the agent ends with a failure line; got ${JSON.stringify(events)}`);
  return last as Extract<AgentEvent, { stage: 'failed' }>;
}

/** Runs a command over SSH as root, accepting only the pinned host key. */
function ssh(h: TestHost, command: string, input?: string): Promise<{ code: number; stdout: string; hostKey: string }> {
  const pinned = Buffer.from(hostKey.publicKey.split(' ')[1] as string, 'base64');
  let offered = '';
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.on('error', reject)
      .on('ready', () => {
        c.exec(command, (err, stream) => {
          if (err) return reject(err);
          let stdout = '';
          stream.on('data', (d: Buffer) => (stdout += d.toString()));
          stream.stderr.resume();
          stream.on('close', (code: number) => {
            c.end();
            resolve({ code, stdout, hostKey: offered });
          });
          stream.end(input ?? '');
        });
      })
      .connect({
        host: h.ip,
        port: 22,
        username: 'root',
        privateKey: loginKey.privateKey,
        readyTimeout: 10_000,
        hostVerifier: (key: Buffer) => {
          offered = key.toString('base64');
          return key.equals(pinned);
        },
      });
  });
}

async function httpGet(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return res.text();
}

/**
 * What the switched system's service answers. A started unit (Type=simple) may not listen yet when its start
 * returns, as with systemd: wait for the port to accept (bounded), then ask once.
 */
async function serviceAnswer(h: TestHost): Promise<string> {
  const wait = await h.exec(['bash', '-c', `i=0; while ! (exec 3<>/dev/tcp/127.0.0.1/${SERVICE_PORT}) 2>/dev/null; do i=$((i+1)); [ $i -lt 200 ] || exit 1; sleep 0.05; done`]);
  assert.equal(
    wait.code,
    0,
    `nothing listens on port ${SERVICE_PORT}: ${fs.existsSync(h.file('root/thebacknd-test-service.service.log')) ? fs.readFileSync(h.file('root/thebacknd-test-service.service.log'), 'utf8') : 'the service never started'}`,
  );
  return httpGet(`http://${h.ip}:${SERVICE_PORT}/`);
}

test('a toplevel: host key pinned, closure fetched from S3 with signatures, switched, stages in order', async () => {
  const h = await host({ userData: userData({ kind: 'toplevel', path: closures.toplevel }) });
  const boot = await h.booted;
  assert.equal(boot.code, 0, boot.lines.join('\n'));
  assert.deepEqual(stages(boot.events), ['metadata', 'keys', 'cache', 'fetch 0/3', 'fetch 1/3', 'fetch 2/3', 'fetch 3/3', 'profile', 'switch', 'done switched']);
  const fetched = boot.events.filter((e) => e.stage === 'fetch').pop() as Extract<AgentEvent, { stage: 'fetch' }>;
  assert.ok(fetched.bytesTotal && fetched.bytesTotal > 300_000 && fetched.bytesDone === fetched.bytesTotal, JSON.stringify(fetched));
  assert.deepEqual(boot.events[1], { stage: 'keys', hostKey: 'ssh-ed25519', authorizedKeys: 1 });

  // SSH answers with the key from user-data, and lets the login key in.
  const seen = await ssh(h, 'readlink /run/current-system; cat /root/thebacknd-switches; ls /nix/store');
  assert.equal(seen.hostKey, hostKey.publicKey.split(' ')[1]);
  const [current, marker, ...store] = seen.stdout.trim().split('\n');
  assert.equal(current, closures.toplevel);
  assert.equal(marker, `switched ${closures.toplevel}`);
  // The host's store holds exactly the toplevel's closure, and each path came from the S3 bucket.
  const closure = closures.toplevelClosure.map((p) => path.basename(p));
  assert.equal(closure.length, 3);
  assert.deepEqual(store.sort(), closure.sort());
  for (const p of closure) {
    assert.ok(
      cache.s3.requests.some((r) => r.method === 'GET' && r.url === `/cache/${p.slice(0, 32)}.narinfo`),
      `narinfo of ${p} read from S3`,
    );
  }
  const sigs = await h.exec(['nix', 'path-info', '--sigs', closures.toplevel]);
  assert.match(sigs.stdout, new RegExp(closures.publicKey.split(':')[0] as string), 'the path is recorded with the cache signature');
  // The switched system's service runs and answers on the host's address.
  assert.equal(await serviceAnswer(h), closures.greeting);
  // The boot log file (what the extension tails over SSH) has the same stage lines.
  const log = await ssh(h, 'cat /run/thebacknd/agent.log');
  assert.deepEqual(
    log.stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('thebacknd: ')),
    boot.lines.filter((l) => l.startsWith('thebacknd: ')),
  );

  // A second boot with the same toplevel: keys again, then nothing to do.
  const again = await h.reboot();
  assert.equal(again.code, 0, again.lines.join('\n'));
  assert.deepEqual(stages(again.events), ['metadata', 'keys', 'done current']);
  assert.equal(fs.readFileSync(h.file('root/thebacknd-switches'), 'utf8'), `switched ${closures.toplevel}\n`, 'no second switch');
  assert.equal((await ssh(h, 'readlink /run/current-system')).stdout.trim(), closures.toplevel);
  // The booted system's multi-user.target starts its service again.
  assert.equal(await serviceAnswer(h), closures.greeting);
});

test('a service the toplevel adds runs right after the switch: multi-user.target is active when the agent switches', async () => {
  const h = await host({ userData: userData({ kind: 'toplevel', path: closures.toplevel }) });
  const boot = await h.booted;
  assert.equal(boot.code, 0, boot.lines.join('\n'));
  // The host ran the units in the order nix/module.nix declares; the switch started the target's new wants.
  assert.ok(fs.existsSync(h.file('run/thebacknd-test-systemd/active/multi-user.target')), 'multi-user.target reached');
  assert.ok(fs.existsSync(h.file('run/thebacknd-test-systemd/started/thebacknd-test-service.service')), 'the switch started the new service');
  assert.equal(await serviceAnswer(h), closures.greeting);
});

test('switch-to-configuration exiting 100 (reboot needed) reboots the machine, not a failure; the next boot finds it current', async () => {
  const h = await host({ userData: userData({ kind: 'toplevel', path: closures.rebootToplevel }) });
  const boot = await h.booted;
  assert.equal(boot.code, 0, boot.lines.join('\n'));
  assert.deepEqual(stages(boot.events).slice(-3), ['profile', 'switch', 'reboot']);
  assert.deepEqual(boot.events[boot.events.length - 1], { stage: 'reboot', toplevel: closures.rebootToplevel });
  assert.ok(fs.existsSync(h.file(REBOOT_MARKER)), 'the reboot command ran');
  // The profile names the new system: the boot loader starts it, and the agent has nothing left to do.
  const again = await h.reboot();
  assert.equal(again.code, 0, again.lines.join('\n'));
  assert.deepEqual(stages(again.events), ['metadata', 'keys', 'done current']);
});

test('Hetzner account SSH keys (metadata public-keys) are installed next to the user-data login key', async () => {
  const account = await generateEd25519('hetzner-account');
  const h = await host({ provider: 'hetzner', userData: userData({ kind: 'bare' }), publicKeys: [account.publicKey] });
  const boot = await h.booted;
  assert.equal(boot.code, 0, boot.lines.join('\n'));
  assert.deepEqual(boot.events[1], { stage: 'keys', hostKey: 'ssh-ed25519', authorizedKeys: 2 });
  const installed = fs.readFileSync(h.file('root/.ssh/authorized_keys'), 'utf8').trim().split('\n');
  assert.deepEqual(installed, [loginKey.publicKey.trim(), account.publicKey.trim()]);
});

test('a closure pushed by the extension itself (src/nix/push) boots the same way', async (t) => {
  const pushed = await startHostCache({ bucket: 'pushed' });
  t.after(() => pushed.close());
  const res = await push([closures.toplevel], {
    cache: pushed.s3.cache({ signingKeyFile: path.join(work, 'secret.key') }),
    credentials: pushed.s3.credentials,
    nix: { env: { ...process.env, ...NIX_ENV } },
  });
  assert.equal(res.uploadedPaths, 3);
  const h = await host({ userData: userData({ kind: 'toplevel', path: closures.toplevel }, { url: pushed.url }) });
  const boot = await h.booted;
  assert.equal(boot.code, 0, boot.lines.join('\n'));
  assert.deepEqual(stages(boot.events).slice(-4), ['fetch 3/3', 'profile', 'switch', 'done switched']);
});

test('a binary: fetched, run with its arguments, then the machine powers off (Hetzner metadata)', async () => {
  let poweredOff = 0;
  const h = await host({
    provider: 'hetzner',
    userData: userData({ kind: 'binary', path: closures.binary, args: ['alpha', 'two words'] }),
    onPowerOff: () => {
      poweredOff++;
    },
  });
  const boot = await h.booted;
  assert.equal(boot.code, 0, boot.lines.join('\n'));
  assert.deepEqual(stages(boot.events), ['metadata', 'keys', 'cache', 'fetch 0/2', 'fetch 1/2', 'fetch 2/2', 'run', 'poweroff']);
  assert.deepEqual(boot.events[0], { stage: 'metadata', url: 'http://169.254.169.254', provider: 'hetzner' });
  assert.deepEqual(boot.events[boot.events.length - 1], { stage: 'poweroff', exitCode: 0 });
  assert.ok(boot.lines.includes('job ran with 2 args: alpha two words'), boot.lines.join('\n'));
  assert.ok(boot.lines.includes(closures.greeting.trim()), 'the job read a path of its closure');
  assert.equal(fs.readFileSync(h.file('root/job-ran'), 'utf8'), 'alpha|two words|');
  assert.ok(h.poweredOff && boot.poweredOff);
  assert.equal(poweredOff, 1);
  assert.ok(!fs.existsSync(h.file('run/current-system')), 'a binary run switches nothing');
  await assert.rejects(ssh(h, 'true'), 'a powered-off machine answers no SSH');
});

test('no toplevel in user-data: keys only, the bare image (provider auto-detected)', async () => {
  const h = await host({ provider: 'hetzner', userData: userData({ kind: 'bare' }), agentEnv: { THEBACKND_PROVIDER: 'auto' } });
  const boot = await h.booted;
  assert.equal(boot.code, 0, boot.lines.join('\n'));
  assert.deepEqual(stages(boot.events), ['metadata', 'keys', 'done bare']);
  assert.equal((await ssh(h, 'ls -A /nix/store 2>/dev/null | wc -l')).stdout.trim(), '0', 'nothing fetched');
});

test('after the keys, only root reaches the metadata service; the user-data stays in a root-only copy', async () => {
  const h = await host({ provider: 'hetzner', userData: userData({ kind: 'bare' }) });
  const boot = await h.booted;
  assert.equal(boot.code, 0, boot.lines.join('\n'));
  const url = 'http://169.254.169.254/hetzner/v1/userdata';
  const asRoot = await h.exec(['curl', '-sS', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', url]);
  assert.equal(asRoot.stdout, '200', asRoot.stderr);
  const asNobody = await h.exec(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'curl', '-sS', '-m', '10', '-o', '/dev/null', url]);
  assert.notEqual(asNobody.code, 0, 'a non-root process is refused the metadata address');
  const copy = await h.exec(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'cat', '/run/thebacknd/user-data.json']);
  assert.notEqual(copy.code, 0, 'the root-only copy is not readable by others');
  assert.equal((await h.exec(['jq', '-r', '.version', '/run/thebacknd/user-data.json'])).stdout.trim(), '1', 'root keeps the copy');
});

test('a private cache: the agent waits for credentials written over SSH, then fetches with them', async (t) => {
  const auth = { user: 'reader', password: 'test-only-password' };
  const privateCache = await startHostCache({ basicAuth: auth });
  t.after(() => privateCache.close());
  await privateCache.upload(closures.cacheDir);
  const h = await host({ userData: userData({ kind: 'toplevel', path: closures.toplevel }, { url: privateCache.url, private: true }) });
  const waiting = await h.waitForStage('credentials');
  assert.deepEqual(waiting, { stage: 'credentials', waitSeconds: 900 });
  assert.equal(privateCache.admitted + privateCache.refused, 0, 'nothing is fetched before the credentials arrive');
  const unauthenticated = await h.exec(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `${privateCache.url}/nix-cache-info`]);
  assert.equal(unauthenticated.stdout, '401', 'the cache refuses readers without credentials');
  const netrc = `machine ${new URL(privateCache.url).hostname} login ${auth.user} password ${auth.password}\n`;
  const put = await ssh(h, 'umask 077 && cat > /run/thebacknd/cache-credentials.tmp && mv /run/thebacknd/cache-credentials.tmp /run/thebacknd/cache-credentials', netrc);
  assert.equal(put.code, 0);
  const boot = await h.booted;
  assert.equal(boot.code, 0, boot.lines.join('\n'));
  assert.deepEqual(stages(boot.events).slice(0, 4), ['metadata', 'keys', 'credentials', 'cache']);
  assert.equal(stages(boot.events).pop(), 'done switched');
  assert.ok(privateCache.admitted >= 7, `the narinfos and NARs were read with the credentials (${privateCache.admitted})`);

  // Wrong credentials: refused by the cache, and said so.
  const wrong = await host({ userData: userData({ kind: 'toplevel', path: closures.toplevel }, { url: privateCache.url, private: true }) });
  await wrong.waitForStage('credentials');
  fs.writeFileSync(wrong.file('run/thebacknd/cache-credentials'), netrc.replace(auth.password, 'wrong'), { mode: 0o600 });
  const refused = await wrong.booted;
  const f = failure(refused.events);
  assert.equal(f.reason, 'cache-unauthorized');
  assert.equal(f.message, 'the binary cache refused the credentials (HTTP 401)');
});

test('a private cache whose credentials never come fails with the reason', async () => {
  const h = await host({
    userData: userData({ kind: 'toplevel', path: closures.toplevel }, { private: true }),
    agentEnv: { THEBACKND_CREDENTIALS_TIMEOUT: '1' },
  });
  const boot = await h.booted;
  assert.notEqual(boot.code, 0);
  assert.equal(failure(boot.events).reason, 'credentials-timeout');
});

test('a path missing from the cache fails with missing-path and that path; nothing is switched', async () => {
  const h = await host({ userData: userData({ kind: 'toplevel', path: closures.incompleteToplevel }) });
  const boot = await h.booted;
  assert.notEqual(boot.code, 0);
  const f = failure(boot.events);
  assert.equal(f.reason, 'missing-path');
  assert.equal(f.path, closures.missingDependency);
  assert.match(f.message, /1 path\(s\) of the closure are not in the cache/);
  assert.ok(!boot.events.some((e) => e.stage === 'switch'));
  assert.ok(!fs.existsSync(h.file('run/current-system')));
});

test('a wrong trusted key fails with untrusted-signature; nothing unsigned lands in the store', async () => {
  const h = await host({ userData: userData({ kind: 'toplevel', path: closures.toplevel }, { trustedPublicKey: closures.otherPublicKey }) });
  const boot = await h.booted;
  assert.notEqual(boot.code, 0);
  const f = failure(boot.events);
  assert.equal(f.reason, 'untrusted-signature');
  assert.match(f.message, /do not match the trusted public key/);
  assert.ok(!fs.existsSync(h.file(closures.toplevel)), 'the toplevel was not added to the store');
});

test('an unreachable metadata service fails with metadata-unreachable after the retries', async () => {
  const h = await host({ userData: userData({ kind: 'toplevel', path: closures.toplevel }), metadata: false });
  const boot = await h.booted;
  assert.notEqual(boot.code, 0);
  const f = failure(boot.events);
  assert.equal(f.reason, 'metadata-unreachable');
  assert.match(f.message, /http:\/\/169\.254\.169\.254 did not answer after 5 attempts/);
  assert.deepEqual(stages(boot.events), ['metadata', 'failed']);
});

test('an unreachable cache, bad user-data and a mismatched host key fail with their reasons', async () => {
  const down = await host({ userData: userData({ kind: 'toplevel', path: closures.toplevel }, { url: `http://${cache.url.split('/')[2]?.split(':')[0]}:1/cache` }) });
  const badVersion = await host({ provider: 'hetzner' as HostProvider, userData: JSON.stringify({ version: 2, toplevel: closures.toplevel }) });
  const other = await generateEd25519('other');
  const mismatched = JSON.parse(userData({ kind: 'bare' })) as { hostKey: { public: string } };
  mismatched.hostKey.public = other.publicKey;
  const badKey = await host({ userData: JSON.stringify(mismatched) });
  const [a, b, c] = await Promise.all([down.booted, badVersion.booted, badKey.booted]);
  assert.equal(failure(a.events).reason, 'cache-unreachable');
  const f = failure(b.events);
  assert.equal(f.reason, 'bad-user-data');
  assert.equal(f.message, "unsupported user-data version '2' (this agent reads version 1)");
  assert.equal(failure(c.events).reason, 'keys');
  assert.match(failure(c.events).message, /host key pair in user-data does not match/);
});

// Issue #16: the machine is created while the closure is still being pushed.
test('a toplevel whose narinfo is not in the cache yet: the agent waits for the push, then fetches and switches', async (t) => {
  const late = await startHostCache({ bucket: 'late' });
  t.after(() => late.close());
  const infoOnly = fs.mkdtempSync(path.join(work, 'info-only-'));
  fs.writeFileSync(path.join(infoOnly, 'nix-cache-info'), 'StoreDir: /nix/store\n');
  await late.upload(infoOnly);
  const h = await host({ userData: userData({ kind: 'toplevel', path: closures.toplevel }, { url: late.url }) });
  const waiting = await h.waitForStage('closure', 60_000);
  assert.deepEqual(waiting, { stage: 'closure', source: 'cache', waitSeconds: 1800, path: closures.toplevel });
  await late.upload(closures.cacheDir); // NARs, then narinfos, then the rest: the push's order
  const boot = await h.booted;
  assert.equal(boot.code, 0, boot.lines.join('\n'));
  assert.deepEqual(boot.events.at(-1), { stage: 'done', result: 'switched', toplevel: closures.toplevel });
});

test('a toplevel whose narinfo never appears fails with narinfo-timeout, bounded', async () => {
  const h = await host({
    userData: userData({ kind: 'toplevel', path: closures.missingDependency }),
    agentEnv: { THEBACKND_NARINFO_TIMEOUT: '1' },
  });
  const boot = await h.booted;
  assert.notEqual(boot.code, 0);
  const f = failure(boot.events);
  assert.equal(f.reason, 'narinfo-timeout');
  assert.equal(f.path, closures.missingDependency);
  assert.match(f.message, /did not appear in the binary cache within 1s/);
});
