// The secrets scan over everything the vscode-free product produces: the `thebacknd` CLI (its own process, as a user
// runs it) with distinctive cloud tokens, from the environment and from token files, through normal commands,
// rejected tokens, persistent cloud failures, an unreachable endpoint and a cloud that echoes the token back in its
// error messages; a build and push to an S3 cache with a distinctive secret key and a signing key; and Run Toplevel
// with the real user-data builder and machine keys, through a lost create. Afterwards every stdout/stderr, error
// message, request and answer body the clouds saw (the user-data included), the objects in the cache and the files
// under the CLI's HOME are searched for every token and secret used: none may appear.
// The in-extension artefacts (Output channel, settings, tree items, webview state) go through the same scan in the
// integration suite (test/fixtures/secrets.ts).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { DO_IMAGES, HZ_IMAGES } from '../../fixtures/emulator/seed';
import { startS3 } from '../../fixtures/s3';
import { cliEnv as emulatorEnv, runCli, type ProcessRun } from '../../fixtures/cli';
import { artefact, assertNoSecrets, dirArtefacts, emulatorArtefacts, mintSecret, registerSecret, scanForSecrets, type Artefact } from '../../fixtures/secrets';
import { buildUserData, serializeUserData } from '../../../src/agent/user-data';
import { createProvider } from '../../../src/providers';
import { runToplevel } from '../../../src/run/orchestrate';
import { createMachineKeys, readLoginKey, removeMachineKeys } from '../../../src/ssh/keys';

const root = path.resolve(__dirname, '../../../..');

const DO_TOKEN = mintSecret('DigitalOcean token (environment)', 'dop_v1_', 64);
const HZ_TOKEN = mintSecret('Hetzner token (environment)', 'hz', 62);
const FILE_TOKEN = mintSecret('Hetzner token (token file)', 'hz', 62);
const REJECTED_TOKEN = mintSecret('DigitalOcean token (rejected)', 'dop_v1_', 64);
const AWS_SECRET = mintSecret('cache secret access key', '', 40);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-secrets-'));
const home = path.join(tmp, 'home');
const secretsDir = path.join(tmp, 'secret-files');
fs.mkdirSync(home);
fs.mkdirSync(secretsDir, { mode: 0o700 });
const stopAll: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const s of stopAll.reverse()) await s();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Everything the product produced, scanned at the end. */
const artefacts: Artefact[] = [];

async function cli(label: string, args: string[], env: NodeJS.ProcessEnv): Promise<ProcessRun> {
  const r = await runCli(args, { env, cwd: tmp, killAfterMs: 120_000 });
  artefacts.push(artefact(`cli ${label}: stdout`, r.stdout), artefact(`cli ${label}: stderr`, r.stderr));
  return r;
}

function cliEnv(emu: Emulator | { doUrl: string; hetznerUrl: string }, over: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return emulatorEnv(emu, { digitalocean: DO_TOKEN, hetzner: HZ_TOKEN }, { HOME: home, XDG_CACHE_HOME: path.join(home, '.cache'), ...over });
}

function secretFile(name: string, value: string): string {
  const f = path.join(secretsDir, name);
  fs.writeFileSync(f, `${value}\n`, { mode: 0o600 });
  return f;
}

const IMAGE = { digitalocean: String(DO_IMAGES.find((i) => i.name === 'thebacknd')!.id), hetzner: String(HZ_IMAGES.find((i) => i.description === 'thebacknd')!.id) };

/** The user-data Run Toplevel sends, from the real builder and real machine keys (the login key must never leave). */
async function realUserData(runId: string): Promise<string> {
  const keys = await createMachineKeys(path.join(tmp, 'machine-keys'), runId);
  registerSecret({ name: `login private key of ${runId}`, value: await readLoginKey(keys) });
  return serializeUserData(
    buildUserData({
      hostKey: { private: keys.hostPrivateKey, public: keys.hostPublicKey },
      authorizedKeys: [keys.loginPublicKey],
      cache: { url: 'https://cache.example.test/bucket', trustedPublicKey: 'cache-1:ZmFrZSBwdWJsaWMga2V5IGZvciB0aGUgdGVzdHM=', private: true },
      target: { kind: 'toplevel', path: '/nix/store/00000000000000000000000000000000-nixos-system-secrets' },
    }),
  );
}

test('the scan finds a secret in every form it can leak in, and nothing else', () => {
  const s = { name: 'probe', value: `probe-${'0123456789abcdef'.repeat(3)}-end` };
  const hits = (text: string) => scanForSecrets([artefact('t', text)], [s]).map((f) => f.form);
  assert.deepEqual(hits(`x ${s.value} y`), ['plain']);
  for (const pad of ['', 'a', 'ab']) assert.deepEqual(hits(Buffer.from(`${pad}token=${s.value};`).toString('base64')), ['base64'], `base64 at offset ${pad.length}`);
  assert.deepEqual(hits(encodeURIComponent(`a b/${s.value}?`).replace(/-/g, '%2D')), ['slice'], 'partly encoded: its middle still shows');
  assert.deepEqual(hits(`"${s.value.slice(10, 40)}"`), ['slice'], 'a truncated leak');
  assert.deepEqual(hits(Buffer.from(s.value).toString('hex')), ['hex']);
  assert.deepEqual(hits(`probe-0123456789 no secret here ${'f'.repeat(80)}`), []);
  assert.throws(() => assertNoSecrets([artefact('log', `Bearer ${s.value}`)], [s]), /probe in log \(plain\)/);
  assert.throws(
    () => assertNoSecrets([artefact('log', `Bearer ${s.value}`)], [s]),
    (e: Error) => !e.message.includes(s.value),
    'a finding never shows the value',
  );
  assert.deepEqual(scanForSecrets([artefact('token file', s.value)], [{ ...s, allowedIn: ['token file'] }]), []);
});

test('CLI: normal commands, token file, rejected token, failing and unreachable clouds, a cloud echoing the token', async () => {
  const emu = await startEmulator({ rejectTokens: [REJECTED_TOKEN], delays: { doActiveMs: 0, hetznerStartingMs: 0, hetznerRunningMs: 0, deleteMs: 0 } });
  stopAll.push(() => emu.close());
  const env = cliEnv(emu);
  const udFile = path.join(tmp, 'user-data.json');
  fs.writeFileSync(udFile, await realUserData('thebacknd-00000000-0000-4000-8000-000000000001'));

  const ok = async (label: string, args: string[], e = env) => {
    const r = await cli(label, args, e);
    assert.equal(r.code, 0, `${label}: ${r.stderr}`);
    return r;
  };
  const fails = async (label: string, args: string[], e: NodeJS.ProcessEnv, expected: RegExp) => {
    const r = await cli(label, args, e);
    assert.equal(r.code, 1, `${label} fails: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, expected, label);
    assert.ok(!/\n\s+at .+:\d+:\d+/.test(r.stderr), `${label}: no stack trace`);
    return r;
  };

  await ok('help', ['--help']);
  await ok('regions', ['-p', 'digitalocean', 'regions']);
  await ok('sizes', ['-p', 'hetzner', 'sizes', '--json']);
  await ok('create digitalocean', ['-p', 'digitalocean', 'create', '--image', IMAGE.digitalocean, '--user-data-file', udFile, '--json']);
  await ok('create hetzner', ['-p', 'hetzner', 'create', '--image', IMAGE.hetzner, '--user-data-file', udFile]);
  await ok('list', ['list']);
  await ok('list --json', ['list', '--json']);
  await ok('extend', ['-p', 'hetzner', 'extend', 'thebacknd-1', '30']);
  await ok('destroy-old --dry-run', ['destroy-old', '--dry-run']);
  await ok('list (token file)', ['-p', 'hetzner', '--token-file', secretFile('hcloud-token', FILE_TOKEN), 'list']);
  await fails('list (rejected token)', ['-p', 'digitalocean', '--token-file', secretFile('do-rejected', REJECTED_TOKEN), 'list'], env, /DigitalOcean token was rejected/);

  // Persistent failures: the CLI's own retries (seconds of backoff), so these run side by side.
  emu.fault({ provider: 'digitalocean', method: 'GET', path: '/droplets', kind: 503, times: 100 });
  emu.fault({ provider: 'hetzner', method: 'GET', path: '/servers', kind: 'reset', times: 100 });
  const closed = { doUrl: 'http://127.0.0.1:9/v2', hetznerUrl: 'http://127.0.0.1:9/v1' };
  await Promise.all([
    fails('list (DigitalOcean 503)', ['-p', 'digitalocean', 'list'], env, /DigitalOcean API failed \(HTTP 503/),
    fails('list (Hetzner resets)', ['-p', 'hetzner', 'list'], env, /Could not reach the Hetzner API/),
    fails('list (unreachable)', ['list'], cliEnv(closed), /Could not reach/),
  ]);
  emu.clearFaults();
  await ok('destroy', ['-p', 'digitalocean', 'destroy', 'thebacknd-1']);
  await ok('destroy-all', ['destroy-all', '--yes']);

  // A cloud that puts the caller's token into its error messages (a proxy echoing the Authorization header, a
  // debugging gateway): the CLI must not repeat it.
  const echo = await startEmulator({ limits: { droplets: 0, servers: 0 } });
  stopAll.push(() => echo.close());
  echo.setResponseFilter(({ status, body, provider }) => {
    if (status < 400) return body;
    const token = provider === 'digitalocean' ? DO_TOKEN : HZ_TOKEN;
    if (provider === 'digitalocean') return { ...(body as object), message: `${(body as { message: string }).message} (request by Bearer ${token})` };
    const b = body as { error: { message: string } };
    return { ...b, error: { ...b.error, message: `${b.error.message} (token ${token})` } };
  });
  const echoEnv = cliEnv(echo);
  await fails('create (echoing cloud, DigitalOcean)', ['-p', 'digitalocean', 'create', '--image', IMAGE.digitalocean], echoEnv, /limit/i);
  await fails('create (echoing cloud, Hetzner)', ['-p', 'hetzner', 'create', '--image', IMAGE.hetzner], echoEnv, /limit/i);
  assert.ok(
    echo.requests.some((r) => JSON.stringify(r.responseBody ?? '').includes(DO_TOKEN)),
    'the echoing cloud did send the token back',
  );

  artefacts.push(...emulatorArtefacts(emu, 'emulator'));
  // The echoing cloud's answers hold the token by construction; what it received must not.
  artefacts.push(...echo.requests.map((r, i) => artefact(`echoing emulator #${i} ${r.method} ${r.path} request`, `${r.path}${r.query}\n${JSON.stringify(r.body ?? '')}`)));
  const sent = emu.requests.filter((r) => r.method === 'POST' && /^\/v[12]\/(droplets|servers)$/.test(r.path));
  assert.equal(sent.length, 2, 'both creates reached the cloud with their user-data');
});

test('build and push to an S3 cache: the secret key and the signing key stay out of output and cache', async () => {
  const s3 = await startS3('secrets');
  stopAll.push(() => s3.stop());
  const nixEnv = {
    NIX_CONFIG: ['build-users-group =', 'substituters =', 'sandbox = false', 'experimental-features = nix-command flakes'].join('\n'),
  };
  const keyDir = path.join(secretsDir, 'signing');
  const noCloud = { doUrl: 'http://127.0.0.1:9/v2', hetznerUrl: 'http://127.0.0.1:9/v1' };
  const gen = await cli('keygen', ['keygen', '--name', 'secrets-test-1', '--dir', keyDir], cliEnv(noCloud, nixEnv));
  assert.equal(gen.code, 0, gen.stderr);
  const signingKey = fs.readFileSync(path.join(keyDir, 'secrets-test-1.sec'), 'utf8').trim();
  registerSecret({ name: 'cache signing secret key', value: signingKey });

  const flake = path.join(tmp, 'flake');
  fs.cpSync(path.join(root, 'test/fixtures/flakes/chain'), flake, { recursive: true });
  const env = cliEnv(noCloud, {
    ...nixEnv,
    // s3rver knows one access key id (not a secret); the secret key it does not check, so it can be anything.
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: AWS_SECRET,
    THEBACKND_CACHE_ENDPOINT: s3.endpoint,
    THEBACKND_CACHE_BUCKET: s3.bucket,
    THEBACKND_SIGNING_KEY_FILE: path.join(keyDir, 'secrets-test-1.sec'),
  });
  const built = await cli('build --push', ['build', `${flake}#default`, '--push'], env);
  assert.equal(built.code, 0, built.stderr);
  assert.ok(
    s3.created.some((o) => o.key.endsWith('.narinfo')),
    'the closure reached the cache',
  );
  const missing = await cli('push (no such bucket)', ['push', built.stdout.trim()], { ...env, THEBACKND_CACHE_BUCKET: 'no-such-bucket' });
  assert.equal(missing.code, 1, 'pushing to a missing bucket fails');
  artefacts.push(...dirArtefacts('cache objects', s3.directory));
});

test('Run Toplevel with the real user-data builder, through a lost create', async () => {
  const emu = await startEmulator({ delays: { doActiveMs: 0, hetznerStartingMs: 0, hetznerRunningMs: 0, deleteMs: 0 } });
  stopAll.push(() => emu.close());
  const messages: string[] = [];
  for (const provider of ['digitalocean', 'hetzner'] as const) {
    const client = createProvider(provider, {
      token: provider === 'digitalocean' ? DO_TOKEN : HZ_TOKEN,
      endpoint: provider === 'digitalocean' ? emu.doUrl : emu.hetznerUrl,
      retry: { baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 5000 },
    });
    emu.fault({ provider, method: 'POST', path: provider === 'digitalocean' ? '/droplets' : '/servers', kind: 'lost' });
    const keysDir = path.join(tmp, 'run-keys');
    const result = await runToplevel(
      {
        provider: client,
        build: async () => '/nix/store/00000000000000000000000000000000-unused',
        sign: async () => undefined,
        push: async () => undefined,
        newKeys: async (runId) => {
          const keys = await createMachineKeys(keysDir, runId);
          registerSecret({ name: `login private key (${provider} run)`, value: await readLoginKey(keys) });
          return { ...keys, loginPrivateKeyPath: keys.loginKeyPath };
        },
        removeKeys: (runId) => removeMachineKeys(keysDir, runId),
        userData: ({ keys, storePath }) =>
          serializeUserData(
            buildUserData({
              hostKey: { private: keys.hostPrivateKey, public: keys.hostPublicKey },
              authorizedKeys: [keys.loginPublicKey],
              cache: { url: 'https://cache.example.test/bucket', trustedPublicKey: 'cache-1:ZmFrZSBwdWJsaWMga2V5IGZvciB0aGUgdGVzdHM=', private: true },
              target: { kind: 'toplevel', path: storePath! },
            }),
          ),
        waitSsh: async () => undefined,
        followBoot: async () => ({ ok: false, reason: 'the agent stopped (test)' }),
        sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 5))),
      },
      {
        payload: { kind: 'toplevel', storePath: '/nix/store/00000000000000000000000000000000-nixos-system-secrets' },
        placement:
          provider === 'digitalocean'
            ? { provider, region: 'ams3', size: 's-1vcpu-1gb', image: IMAGE.digitalocean }
            : { provider, region: 'fsn1', size: 'cx22', image: IMAGE.hetzner },
        maxAgeMinutes: 60,
        transfer: 'cache',
        cachePrivate: true,
        onFailure: 'destroy',
        pollMs: 5,
      },
      new AbortController().signal,
      (e) => messages.push(JSON.stringify(e)),
    ).catch((err: Error) => err);
    assert.ok(result instanceof Error && /the agent stopped/.test(result.message), `the run ends with the agent's failure: ${String(result)}`);
    messages.push(result.message);
  }
  const userData = emu.requests.filter((r) => r.method === 'POST' && /^\/v[12]\/(droplets|servers)$/.test(r.path)).map((r) => (r.body as { user_data?: string }).user_data ?? '');
  assert.equal(userData.length, 2);
  for (const ud of userData) assert.match(ud, /"private":true/, 'the run sent a private-cache user-data');
  artefacts.push(...messages.map((m, i) => artefact(`run event #${i}`, m)), ...emulatorArtefacts(emu, 'run emulator'));
});

test('none of the tokens and secrets used appears in anything the product produced', () => {
  // Files the CLI wrote under its HOME (caches, logs), besides what each step collected.
  const scanned = assertNoSecrets([...artefacts, ...dirArtefacts('CLI home', home)]);
  assert.ok(scanned.secrets >= 8 && scanned.artefacts > 100, `the scan covered something: ${JSON.stringify(scanned)}`);
  console.log(`secrets: found=0 (${scanned.secrets} secrets, ${scanned.artefacts} artefacts, ${Math.round(scanned.bytes / 1024)} KiB scanned)`);
});
