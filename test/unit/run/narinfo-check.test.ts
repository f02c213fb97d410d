// The agent waits up to half an hour for the toplevel's narinfo. A run asks the cache first: a store path it does
// not push must already be there, or no machine is created; a path it pushed must be where machines read it from,
// or the machine it created is destroyed. Real parts: s3rver behind the test hosts' gateway (and the Basic-auth gate
// of a private cache), the emulated cloud through the real provider client, this machine's Nix for the push.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../../src/base/errors';
import { DEFAULTS, type Settings } from '../../../src/base/settings';
import { generateSigningKey } from '../../../src/nix/sign';
import { createProvider } from '../../../src/providers';
import { createRunPorts, runToplevel, type PortsOptions, type RunEvent, type RunRequest } from '../../../src/run';
import { newRunId } from '../../../src/run/orchestrate';
import { listMachineKeyIds } from '../../../src/ssh/keys';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { NIX_ENV, startHostCache, type HostCache } from '../../fixtures/testhost';
import { PLACEMENT, TOKEN, writeFlake } from './world';

const HASH = '0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r';
const PRESENT = `/nix/store/${HASH}-nixos-system-present`;
const MISSING = '/nix/store/9z8y7x6w5v4s3r2q1p0n9m8l7k6j5i4h-nixos-system-missing';
const READER = { accessKeyId: 'reader', secretAccessKey: `narinfo-check-${process.pid}` };

let dir: string;
let emu: Emulator;
let pub: HostCache;
let priv: HostCache;
let env: NodeJS.ProcessEnv;
let signingKeyFile: string;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-narinfo-check-'));
  // No test hosts: a machine this suite lets through would only wait; what is asserted is whether it exists.
  emu = await startEmulator({ delays: { hetznerStartingMs: 60_000, hetznerRunningMs: 60_000, deleteMs: 0 } });
  pub = await startHostCache({ bucket: 'public' });
  priv = await startHostCache({ bucket: 'private', basicAuth: { user: READER.accessKeyId, password: READER.secretAccessKey } });
  const files = path.join(dir, 'files');
  fs.mkdirSync(files);
  fs.writeFileSync(path.join(files, `${HASH}.narinfo`), `StorePath: ${PRESENT}\nURL: nar/x.nar\nCompression: none\nNarHash: sha256:0\nNarSize: 1\n`);
  await pub.upload(files);
  await priv.upload(files);
  env = { ...process.env, ...NIX_ENV, XDG_CACHE_HOME: path.join(dir, 'xdg-cache') };
  signingKeyFile = (await generateSigningKey('narinfo-check-1', path.join(dir, 'keys'), { env })).secretKeyFile;
});

after(async () => {
  await emu?.close();
  await pub?.close();
  await priv?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function ports(cache: HostCache, over: Partial<PortsOptions> = {}) {
  const settings: Settings = { ...DEFAULTS, cache: { ...cache.s3.cache({ signingKeyFile }), publicUrl: cache.url } };
  return createRunPorts({
    provider: createProvider('hetzner', { token: TOKEN, endpoint: emu.hetznerUrl, retry: { baseDelayMs: 5, maxDelayMs: 50 } }),
    settings,
    keysRoot: path.join(dir, 'storage'),
    cacheCredentials: cache.s3.credentials,
    nix: { env },
    ...over,
  });
}

const request = (payload: RunRequest['payload'], over: Partial<RunRequest> = {}): RunRequest => ({
  payload,
  placement: PLACEMENT.hetzner,
  maxAgeMinutes: 30,
  transfer: 'cache',
  cachePrivate: false,
  onFailure: 'destroy',
  pollMs: 50,
  ...over,
});

const serversOf = (runId: string) => [...emu.state.servers.values()].filter((s) => s.labels['thebacknd-run'] === runId && s.status !== 'deleting');
const creates = () => emu.requests.filter((r) => r.method === 'POST' && r.path === '/v1/servers').length;
const never = new AbortController().signal;

test('the port finds a narinfo where machines read it: public HTTP, a private cache with its read key, s3://', async () => {
  assert.equal(await ports(pub).narinfoProblem!(PRESENT, false, never), undefined);
  assert.equal(await ports(pub).narinfoProblem!(MISSING, false, never), `${pub.url}/${MISSING.slice(11, 43)}.narinfo answered HTTP 404`);

  const refusedBefore = priv.refused;
  assert.equal(await ports(priv, { cacheReadCredentials: READER }).narinfoProblem!(PRESENT, true, never), undefined);
  assert.equal(priv.refused, refusedBefore, 'the read key went with the request');
  assert.match((await ports(priv, { cacheReadCredentials: READER }).narinfoProblem!(MISSING, true, never)) ?? '', /answered HTTP 404$/);
  assert.match(
    (await ports(priv, { cacheReadCredentials: { ...READER, secretAccessKey: 'wrong' } }).narinfoProblem!(PRESENT, true, never)) ?? '',
    /answered HTTP 401 \(the cache refused the read: are its read credentials set\?\)$/,
  );

  const s3 = ports(pub, { settings: { ...DEFAULTS, cache: { ...pub.s3.cache({ signingKeyFile }), publicUrl: `s3://public?endpoint=${pub.s3.endpoint}` } } });
  assert.equal(await s3.narinfoProblem!(PRESENT, false, never), undefined);
  assert.equal(await s3.narinfoProblem!(MISSING, false, never), `${MISSING.slice(11, 43)}.narinfo is not in the bucket public`);
});

for (const kind of ['toplevel', 'binary'] as const) {
  test(`a ${kind} that is not in the cache is refused before any machine is created, with what to do`, async () => {
    const runId = newRunId();
    const events: RunEvent[] = [];
    const createsBefore = creates();
    const payload = kind === 'toplevel' ? { kind, storePath: MISSING } : { kind, storePath: MISSING, binary: 'bin/job' };
    await assert.rejects(
      runToplevel(ports(pub), request(payload), never, (e) => void events.push(e), runId),
      (err: unknown) => {
        assert.ok(err instanceof UserError, String(err));
        assert.equal(
          err.message,
          `${MISSING} is not in the binary cache, so a machine would wait for it in vain: ${pub.url}/${MISSING.slice(11, 43)}.narinfo answered HTTP 404. ` +
            `Push it first (thebacknd push ${MISSING}), or run its configuration, which builds and pushes it. No machine was created.`,
        );
        return true;
      },
    );
    assert.equal(creates(), createsBefore, 'no create request reached the cloud');
    assert.deepEqual(serversOf(runId), []);
    assert.deepEqual(
      events.flatMap((e) => (e.type === 'stage' ? [e.stage] : [])),
      ['keys'],
    );
    assert.ok(!(await listMachineKeyIds(path.join(dir, 'storage'))).includes(runId), 'its keys are removed');
  });
}

test('a private cache is asked with the read key; a path in it goes on to create the machine', async () => {
  const runId = newRunId();
  const ctl = new AbortController();
  const refusedBefore = priv.refused;
  const events: RunEvent[] = [];
  // Cancelled once the machine exists: what is asserted is that the check let the run through to the create.
  const run = runToplevel(
    ports(priv, { cacheReadCredentials: READER }),
    request({ kind: 'toplevel', storePath: PRESENT }, { cachePrivate: true }),
    ctl.signal,
    (e) => {
      events.push(e);
      if (e.type === 'stage' && e.stage === 'wait-running') ctl.abort();
    },
    runId,
  );
  await assert.rejects(run, (err: Error) => err.name === 'AbortError');
  assert.equal(priv.refused, refusedBefore, 'the check sent the read key');
  assert.deepEqual(
    events.flatMap((e) => (e.type === 'stage' ? [e.stage] : [])),
    ['keys', 'create', 'wait-running', 'cleanup'],
  );
  assert.deepEqual(serversOf(runId), [], 'the cancel destroyed it');
});

test('a push the machines cannot read (the public URL serves another bucket) fails the run and destroys its machine', { timeout: 120_000 }, async () => {
  const runId = newRunId();
  const flake = writeFlake(dir, `narinfo-${process.pid}-${Date.now()}`);
  // Pushed to the private bucket's S3 API, read by machines from the public bucket.
  const settings: Settings = { ...DEFAULTS, cache: { ...priv.s3.cache({ signingKeyFile }), publicUrl: pub.url } };
  const events: RunEvent[] = [];
  const p = ports(pub, { settings, cacheCredentials: priv.s3.credentials, flakeDir: flake.dir });
  await assert.rejects(
    runToplevel(p, request({ kind: 'configuration', flakeRef: flake.dir, name: 'e2e' }), never, (e) => void events.push(e), runId),
    (err: unknown) => {
      assert.ok(err instanceof UserError, String(err));
      assert.match(
        err.message,
        /^The push finished, but machines would not find \/nix\/store\/([a-z0-9]{32})-nixos-system-run-e2e: .*\/public\/\1\.narinfo answered HTTP 404\. Check thebacknd\.cache\.publicUrl \(it must serve the bucket pushed to\)\.$/,
      );
      return true;
    },
  );
  const stages = events.flatMap((e) => (e.type === 'stage' ? [e.stage] : []));
  assert.deepEqual(stages.slice(0, 5), ['build', 'sign', 'push', 'keys', 'create']);
  assert.equal(stages.at(-1), 'cleanup');
  assert.ok(
    events.some((e) => e.type === 'machine'),
    'the machine was created while the closure was pushed',
  );
  assert.deepEqual(serversOf(runId), [], 'and destroyed when the check failed');
  assert.ok(!(await listMachineKeyIds(path.join(dir, 'storage'))).includes(runId), 'its keys are removed');
});
