// DigitalOcean Functions in the emulator: namespaces and triggers through the DigitalOcean API, the namespace's
// OpenWhisk API (actions run for real in child Node processes), web actions, scheduled triggers on the emulator's
// clock, and faults on both APIs.
import * as assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { DEPLOYED_PARAMETERS, emulatorArtefacts, functionsArtefacts, registerFunctionsSecrets, scanForSecrets } from '../../fixtures/secrets';
import { assertClean, raw } from './helpers';

interface Namespace {
  api_host: string;
  namespace: string;
  uuid: string;
  key: string;
  label: string;
  region: string;
}

async function createNamespace(emu: Emulator, label: string, region = 'nyc1'): Promise<Namespace> {
  const r = await raw(`${emu.doUrl}/functions/namespaces`, { method: 'POST', body: JSON.stringify({ region, label }) });
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as { namespace: Namespace }).namespace;
}

/** A request to the namespace's OpenWhisk API with HTTP Basic uuid:key, as doctl and the product send it. */
function ow(ns: Namespace, path: string, init: RequestInit & { auth?: string } = {}): Promise<Response> {
  const { auth = `${ns.uuid}:${ns.key}`, headers, ...rest } = init;
  return fetch(`${ns.api_host}/api/v1/namespaces/${ns.namespace}${path}`, {
    ...rest,
    headers: {
      Authorization: `Basic ${Buffer.from(auth).toString('base64')}`,
      'Content-Type': 'application/json',
      ...(headers ?? {}),
    },
  });
}

async function putPackage(ns: Namespace, name = 'thebacknd', body: object = {}): Promise<void> {
  const r = await ow(ns, `/packages/${name}?overwrite=true`, { method: 'PUT', body: JSON.stringify(body) });
  assert.equal(r.status, 200, await r.clone().text());
}

async function putAction(ns: Namespace, path: string, code: string, extra: object = {}): Promise<Response> {
  return ow(ns, `/actions/${path}?overwrite=true`, {
    method: 'PUT',
    body: JSON.stringify({ exec: { kind: 'nodejs:18', code, binary: false }, ...extra }),
  });
}

async function invoke(ns: Namespace, path: string, params: object = {}, query = 'blocking=true&result=true') {
  const r = await ow(ns, `/actions/${path}?${query}`, { method: 'POST', body: JSON.stringify(params) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown>, headers: r.headers };
}

// What esbuild emits for `export async function main(params)` in CommonJS format.
const bundle = (body: string) => `"use strict";
var __defProp = Object.defineProperty;
var src_exports = {};
__defProp(src_exports, "main", { get: () => main, enumerable: true });
module.exports = src_exports;
async function main(params) {
${body}
}
`;

describe('emulator: DigitalOcean Functions', () => {
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator();
  });
  afterEach(() => {
    emu.clearFaults();
    for (const n of [...emu.functions.namespaces.keys()]) emu.functions.deleteNamespace(n);
  });
  after(() => emu.close());

  test('namespaces: create, get, list and delete through the DigitalOcean API', async () => {
    const ns = await createNamespace(emu, 'thebacknd-reaper');
    assert.match(ns.namespace, /^fn-[0-9a-f-]{36}$/);
    assert.equal(ns.api_host, emu.functions.apiHost);
    assert.equal(ns.region, 'nyc1');
    assert.ok(ns.key.length >= 32);
    const got = await raw(`${emu.doUrl}/functions/namespaces/${ns.namespace}`);
    assert.deepEqual(((await got.json()) as { namespace: Namespace }).namespace, ns);
    const list = await raw(`${emu.doUrl}/functions/namespaces`);
    assert.deepEqual(
      ((await list.json()) as { namespaces: Namespace[] }).namespaces.map((n) => n.label),
      ['thebacknd-reaper'],
    );
    const del = await raw(`${emu.doUrl}/functions/namespaces/${ns.namespace}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    const gone = await raw(`${emu.doUrl}/functions/namespaces/${ns.namespace}`);
    assert.equal(gone.status, 404);
    assert.equal(((await gone.json()) as { id: string }).id, 'not_found');
    assertClean(emu);
  });

  test('a deployed action runs in a child process with its bound parameters and returns its result', async () => {
    const ns = await createNamespace(emu, 'run');
    await putPackage(ns);
    const put = await putAction(
      ns,
      'thebacknd/list',
      bundle(`  console.log('listing for', params.who);
  return { pid: process.pid, who: params.who, token: params.token, extra: params.extra, name: process.env.__OW_ACTION_NAME };`),
      {
        parameters: [
          { key: 'token', value: 'bound-token' },
          { key: 'who', value: 'bound' },
        ],
      },
    );
    assert.equal(put.status, 200, await put.clone().text());
    const action = (await put.json()) as { name: string; namespace: string; version: string };
    assert.equal(action.name, 'list');
    assert.equal(action.namespace, `${ns.namespace}/thebacknd`);

    const r = await invoke(ns, 'thebacknd/list', { who: 'caller', extra: 1 });
    assert.equal(r.status, 200);
    assert.notEqual(r.body.pid, process.pid, 'the action ran in its own process');
    assert.equal(r.body.who, 'caller', 'invocation parameters win over bound ones');
    assert.equal(r.body.token, 'bound-token');
    assert.equal(r.body.extra, 1);
    assert.equal(r.body.name, `/${ns.namespace}/thebacknd/list`);

    // The activation is recorded with its logs.
    const id = r.headers.get('x-openwhisk-activation-id');
    assert.match(id ?? '', /^[0-9a-f]{32}$/);
    const a = await ow(ns, `/activations/${id}`);
    const act = (await a.json()) as { response: { status: string; success: boolean; result: { who: string } }; logs: string[] };
    assert.equal(act.response.status, 'success');
    assert.equal(act.response.result.who, 'caller');
    assert.match(act.logs.join('\n'), /stdout: listing for caller/);

    const logs = (await (await ow(ns, `/activations/${id}/logs`)).json()) as { logs: string[] };
    assert.match(logs.logs.join('\n'), /listing for caller/);
    const inPackage = (await (await ow(ns, '/actions/thebacknd/')).json()) as { name: string }[];
    assert.deepEqual(
      inPackage.map((x) => x.name),
      ['list'],
    );

    // GET and DELETE.
    const get = await ow(ns, '/actions/thebacknd/list?code=false');
    assert.equal(get.status, 200);
    assert.equal(((await get.json()) as { exec: { code?: string } }).exec.code, undefined);
    assert.equal((await ow(ns, '/actions/thebacknd/list', { method: 'DELETE' })).status, 200);
    assert.equal((await ow(ns, '/actions/thebacknd/list')).status, 404);
    assertClean(emu);
  });

  test('the specs are enforced: an off-spec body is refused on both APIs, and nothing is created', async () => {
    // DigitalOcean: create_namespace requires region and label.
    const r = await raw(`${emu.doUrl}/functions/namespaces`, { method: 'POST', body: JSON.stringify({ region: 'nyc1' }) });
    assert.equal(r.status, 422);
    assert.match(((await r.json()) as { message: string }).message, /label is required/);
    assert.equal(emu.functions.namespaces.size, 0);
    emu.violations.length = 0;

    const ns = await createNamespace(emu, 'spec');
    // DigitalOcean: create_trigger requires scheduled_details.cron, and DigitalOcean checks the cron itself.
    const t = await raw(`${emu.doUrl}/functions/namespaces/${ns.namespace}/triggers`, {
      method: 'POST',
      body: JSON.stringify({ name: 'reap', function: 'x', type: 'SCHEDULED', is_enabled: true, scheduled_details: {} }),
    });
    assert.equal(t.status, 422);
    emu.violations.length = 0;
    await putPackage(ns);
    assert.equal((await putAction(ns, 'thebacknd/a', bundle('  return {};'))).status, 200);
    const badCron = await raw(`${emu.doUrl}/functions/namespaces/${ns.namespace}/triggers`, {
      method: 'POST',
      body: JSON.stringify({ name: 'reap', function: 'thebacknd/a', type: 'SCHEDULED', is_enabled: true, scheduled_details: { cron: '*/20 * * *' } }),
    });
    assert.equal(badCron.status, 400);
    assert.match(((await badCron.json()) as { message: string }).message, /invalid cron expression/);

    // OpenWhisk: ActionExec requires kind; parameters are KeyValue pairs.
    const noKind = await ow(ns, '/actions/thebacknd/b', { method: 'PUT', body: JSON.stringify({ exec: { code: 'x' } }) });
    assert.equal(noKind.status, 400);
    assert.match(((await noKind.json()) as { error: string }).error, /malformed[\s\S]*kind/);
    const badParams = await putAction(ns, 'thebacknd/b', bundle('  return {};'), { parameters: [{ name: 'token' }] });
    assert.equal(badParams.status, 400);
    // Today's kinds, not the swagger's 2018 enum; unknown kinds and out-of-range limits are refused.
    assert.equal((await ow(ns, '/actions/thebacknd/b', { method: 'PUT', body: JSON.stringify({ exec: { kind: 'nodejs:default', code: bundle('  return {};') } }) })).status, 200);
    assert.equal((await ow(ns, '/actions/thebacknd/c', { method: 'PUT', body: JSON.stringify({ exec: { kind: 'nodejs:8', code: 'x' } }) })).status, 400);
    assert.equal((await putAction(ns, 'thebacknd/c', bundle('  return {};'), { limits: { timeout: 900_001 } })).status, 400);
    assert.equal((await putAction(ns, 'thebacknd/c', bundle('  return {};'), { limits: { memory: 2048 } })).status, 400);
    // An action in a package needs the package; an existing action needs ?overwrite=true.
    assert.equal((await putAction(ns, 'nopkg/c', bundle('  return {};'))).status, 404);
    const again = await ow(ns, '/actions/thebacknd/b', { method: 'PUT', body: JSON.stringify({ exec: { kind: 'nodejs:18', code: 'x' } }) });
    assert.equal(again.status, 409);
    assert.deepEqual([...emu.functions.namespaces.get(ns.namespace)!.actions.keys()].sort(), ['thebacknd/a', 'thebacknd/b']);
    // Wrong credentials, another namespace's path.
    assert.equal((await ow(ns, '/actions', { auth: `${ns.uuid}:wrong` })).status, 401);
    const other = await createNamespace(emu, 'other');
    assert.equal((await ow(other, `/actions`, { auth: `${ns.uuid}:${ns.key}` })).status, 403);
    emu.violations.length = 0;
    assertClean(emu);
  });

  test('runtimes are listed at GET {api_host}/api/v1', async () => {
    const r = await fetch(`${emu.functions.apiHost}/api/v1`);
    const body = (await r.json()) as { runtimes: { nodejs: { kind: string; default: boolean }[] } };
    assert.deepEqual(
      body.runtimes.nodejs.filter((k) => k.default).map((k) => k.kind),
      ['nodejs:18'],
    );
  });

  test('the platform timeout kills the action and records a developer error', async () => {
    const ns = await createNamespace(emu, 'timeout');
    await putPackage(ns);
    await putAction(
      ns,
      'thebacknd/hang',
      bundle(`  console.log('started');
  await new Promise(() => {});`),
      { limits: { timeout: 300 } },
    );
    const r = await invoke(ns, 'thebacknd/hang', {}, 'blocking=true');
    assert.equal(r.status, 502);
    const act = r.body as { response: { status: string; result: { error: string } }; annotations: { key: string; value: unknown }[]; logs: string[] };
    assert.equal(act.response.status, 'action developer error');
    assert.equal(act.response.result.error, 'The action exceeded its time limits of 300 milliseconds.');
    assert.equal(act.annotations.find((a) => a.key === 'timeout')?.value, true);
    assert.match(act.logs.join('\n'), /stdout: started/);
    assertClean(emu);
  });

  test('the memory limit aborts an action that exhausts it', async () => {
    const ns = await createNamespace(emu, 'memory');
    await putPackage(ns);
    await putAction(ns, 'thebacknd/hog', bundle('  const a = []; for (;;) a.push(new Array(100000).fill(1.5));'), { limits: { memory: 128, timeout: 60_000 } });
    const r = await invoke(ns, 'thebacknd/hog', {}, 'blocking=true');
    assert.equal(r.status, 502);
    const act = r.body as { response: { status: string; result: { error: string } } };
    assert.equal(act.response.status, 'action developer error');
    assert.equal(act.response.result.error, 'The action exhausted its memory and was aborted.');
    assertClean(emu);
  });

  test('outcomes as OpenWhisk classifies them: thrown, rejected, non-object, error field', async () => {
    const ns = await createNamespace(emu, 'outcomes');
    await putPackage(ns);
    const cases: [string, string, number, string, RegExp][] = [
      ['throws', 'throw new Error("boom")', 502, 'application error', /boom/],
      ['sync', '', 502, 'action developer error', /An error has occurred: Error: sync boom/],
      ['string', 'return "text"', 502, 'action developer error', /did not return a dictionary/],
      ['errfield', 'return { error: "handled" }', 502, 'application error', /handled/],
      ['nothing', 'return undefined', 200, 'success', /^\{\}$/],
    ];
    for (const [name, body, status, outcome, result] of cases) {
      const code = name === 'sync' ? '"use strict";\nexports.main = function (params) { throw new Error("sync boom"); };\n' : bundle(`  ${body};`);
      assert.equal((await putAction(ns, `thebacknd/${name}`, code)).status, 200);
      const r = await invoke(ns, `thebacknd/${name}`, {}, 'blocking=true');
      assert.equal(r.status, status, name);
      const act = r.body as { response: { status: string; result: unknown } };
      assert.equal(act.response.status, outcome, name);
      assert.match(JSON.stringify(act.response.result), result, name);
    }
    assertClean(emu);
  });

  test('package parameters are inherited; a final action refuses to have its parameters overridden', async () => {
    const ns = await createNamespace(emu, 'final');
    await putPackage(ns, 'thebacknd', {
      parameters: [
        { key: 'endpoint', value: 'pkg-endpoint' },
        { key: 'who', value: 'pkg' },
      ],
    });
    await putAction(ns, 'thebacknd/f', bundle('  return { endpoint: params.endpoint, who: params.who };'), {
      parameters: [{ key: 'who', value: 'action' }],
      annotations: [{ key: 'final', value: true }],
    });
    const ok = await invoke(ns, 'thebacknd/f');
    assert.deepEqual(ok.body, { endpoint: 'pkg-endpoint', who: 'action' });
    const refused = await invoke(ns, 'thebacknd/f', { who: 'attacker' });
    assert.equal(refused.status, 400);
    assert.match(String(refused.body.error), /not allowed/);
    assertClean(emu);
  });

  test('non-blocking invocation answers 202 with the id; activations are listed with name, limit, skip, since, docs', async () => {
    const ns = await createNamespace(emu, 'async');
    await putPackage(ns);
    await putAction(ns, 'thebacknd/a', bundle('  return { n: params.n };'));
    await putAction(ns, 'thebacknd/b', bundle('  return { b: true };'));
    const since = Date.now() - 1;
    const done = emu.functions.nextActivation((a) => a.path === 'thebacknd/a');
    const r = await invoke(ns, 'thebacknd/a', { n: 1 }, '');
    assert.equal(r.status, 202);
    const id = r.body.activationId as string;
    assert.equal((await done).activationId, id);
    await invoke(ns, 'thebacknd/a', { n: 2 });
    await invoke(ns, 'thebacknd/b');

    const list = async (q: string) =>
      (await (await ow(ns, `/activations?${q}`)).json()) as { activationId: string; name: string; response?: { result: { n: number } }; logs?: string[] }[];
    const named = await list('name=thebacknd/a&docs=true');
    assert.deepEqual(
      named.map((a) => a.response?.result.n),
      [2, 1],
      'newest first, whole records with docs=true',
    );
    assert.equal((await list('name=a&limit=1&skip=1'))[0].activationId, id);
    assert.equal((await list(`since=${since}`)).length, 3);
    assert.equal((await list(`since=${Date.now() + 60_000}`)).length, 0);
    const summary = (await list('limit=1'))[0];
    assert.equal(summary.logs, undefined, 'summaries without docs carry no logs');
    assertClean(emu);
  });

  test('an action reaches the emulated DigitalOcean API with the token bound to it, and sees the emulated clock', async () => {
    emu.addDroplet({ name: 'thebacknd-1', tags: ['thebacknd'] });
    const ns = await createNamespace(emu, 'reach');
    await putPackage(ns);
    await putAction(
      ns,
      'thebacknd/count',
      bundle(`  const r = await fetch(params.endpoint + '/droplets?tag_name=thebacknd', { headers: { Authorization: 'Bearer ' + params.token } });
  const body = await r.json();
  return { status: r.status, names: body.droplets.map((d) => d.name), now: Date.now(), date: r.headers.get('date') };`),
      {
        parameters: [
          { key: 'endpoint', value: emu.doUrl },
          { key: 'token', value: 'do-function-token' },
        ],
      },
    );
    await emu.functions.advanceClock(3 * 3_600_000);
    // The emulator's offset from this clock, between two reads of it.
    const n1 = Date.now();
    const f = emu.functions.now();
    const n2 = Date.now();
    const [lo, hi] = [f - n2, f - n1];
    // Bracketed by this process's clock before and after the call, not compared with a tolerance: the action's now is
    // the emulator's (this clock + the offset) at some moment in between, however long the call takes.
    const before = Date.now();
    const r = await invoke(ns, 'thebacknd/count');
    const after = Date.now();
    assert.equal(r.body.status, 200);
    assert.deepEqual(r.body.names, ['thebacknd-1']);
    const now = r.body.now as number;
    assert.ok(hi >= 3 * 3_600_000, `the clock moved 3 h (offset ${lo}–${hi} ms)`);
    assert.ok(before + lo <= now && now <= after + hi, `the action's clock is the emulator's: ${now - before} ms after the call began, offset ${lo}–${hi} ms`);
    // The Date header the API gave the action is the same clock, read before the action's now (it truncates to a second).
    const date = Date.parse(r.body.date as string);
    assert.ok(before + lo - 1000 <= date && date <= now, `Date ${date} within the call, on the emulator's clock`);
    emu.setClock(0);
    for (const id of [...emu.state.droplets.keys()]) emu.state.droplets.delete(id);
    assertClean(emu);
  });

  test('web actions: X-Require-Whisk-Auth is checked, the request reaches main, the result maps to the HTTP answer', async () => {
    const ns = await createNamespace(emu, 'web');
    await putPackage(ns);
    await putAction(
      ns,
      'thebacknd/destroy-self',
      bundle(`  return {
    statusCode: params.code === params.secret ? 200 : 403,
    headers: { 'X-Seen-Method': params.__ow_method },
    body: { run: params.run, ua: params.__ow_headers['user-agent'], method: params.http.method, bound: params.bound },
  };`),
      {
        parameters: [
          { key: 'secret', value: 'bound-secret' },
          { key: 'bound', value: 'bound-value' },
          { key: 'run', value: 'bound-run' },
        ],
        annotations: [
          { key: 'web-export', value: true },
          { key: 'require-whisk-auth', value: 'whisk-auth-value' },
          { key: 'final', value: false },
        ],
      },
    );
    const url = `${ns.api_host}/api/v1/web/${ns.namespace}/thebacknd/destroy-self`;
    const call = (headers: Record<string, string>, body: object, ext = '') =>
      fetch(url + ext, { method: 'POST', headers: { 'Content-Type': 'application/json', 'User-Agent': 'agent/1', ...headers }, body: JSON.stringify(body) });

    const before = emu.functions.activations.length;
    assert.equal((await call({}, { run: 'r1', code: 'bound-secret' })).status, 401, 'no header');
    assert.equal((await call({ 'X-Require-Whisk-Auth': 'wrong' }, { run: 'r1', code: 'bound-secret' })).status, 401, 'wrong header');
    assert.equal(emu.functions.activations.length, before, 'a refused call runs nothing');

    const ok = await call({ 'X-Require-Whisk-Auth': 'whisk-auth-value' }, { run: 'r1', code: 'bound-secret' });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('x-seen-method'), 'post');
    assert.deepEqual(await ok.json(), { run: 'r1', ua: 'agent/1', method: 'POST', bound: 'bound-value' });
    const denied = await call({ 'X-Require-Whisk-Auth': 'whisk-auth-value' }, { run: 'r1', code: 'guess' });
    assert.equal(denied.status, 403);

    // .json answers the whole result.
    const json = await call({ 'X-Require-Whisk-Auth': 'whisk-auth-value' }, { run: 'r2', code: 'bound-secret' }, '.json');
    assert.equal(json.status, 200);
    assert.equal(((await json.json()) as { statusCode: number }).statusCode, 200);

    // raw-http: the body and query arrive unparsed (__ow_body base64 for JSON, as OpenWhisk does), nothing merged.
    await putAction(ns, 'thebacknd/raw', bundle('  return { body: { b: params.__ow_body, q: params.__ow_query, run: params.run ?? null } };'), {
      annotations: [
        { key: 'web-export', value: true },
        { key: 'raw-http', value: true },
      ],
    });
    const rawAnswer = await fetch(`${ns.api_host}/api/v1/web/${ns.namespace}/thebacknd/raw?x=1`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"run":"r3"}',
    });
    assert.equal(rawAnswer.status, 200);
    const rb = (await rawAnswer.json()) as { b: string; q: string; run: null };
    assert.equal(Buffer.from(rb.b, 'base64').toString(), '{"run":"r3"}');
    assert.equal(rb.q, 'x=1');
    assert.equal(rb.run, null);

    // Not exported: 404, even with the header.
    await putAction(ns, 'thebacknd/private', bundle('  return {};'));
    const priv = await fetch(`${ns.api_host}/api/v1/web/${ns.namespace}/thebacknd/private`, { headers: { 'X-Require-Whisk-Auth': 'whisk-auth-value' } });
    assert.equal(priv.status, 404);
    assertClean(emu);
  });

  test('a scheduled trigger fires on the emulated clock with its body as parameters: not before its time, then once per period', async () => {
    const ns = await createNamespace(emu, 'cron');
    await putPackage(ns);
    await putAction(ns, 'thebacknd/destroy-old', bundle('  return { mode: params.mode, at: Date.now() };'));
    const t = await raw(`${emu.doUrl}/functions/namespaces/${ns.namespace}/triggers`, {
      method: 'POST',
      body: JSON.stringify({
        name: 'reap-every-20',
        function: 'thebacknd/destroy-old',
        type: 'SCHEDULED',
        is_enabled: true,
        scheduled_details: { cron: '*/20 * * * *', body: { mode: 'scheduled' } },
      }),
    });
    assert.equal(t.status, 200, await t.clone().text());
    type Trigger = { scheduled_runs: { last_run_at: string | null; next_run_at: string | null } };
    const trigger = async () => ((await (await raw(`${emu.doUrl}/functions/namespaces/${ns.namespace}/triggers/reap-every-20`)).json()) as { trigger: Trigger }).trigger;
    const first = await trigger();
    assert.equal(first.scheduled_runs.last_run_at, null);
    const due = Date.parse(first.scheduled_runs.next_run_at!);
    assert.equal(new Date(due).getUTCMinutes() % 20, 0);

    // Up to a minute before it is due: nothing.
    const quiet = await emu.functions.advanceClock(due - 60_000 - emu.functions.now());
    assert.deepEqual(quiet, []);
    // Past it: exactly one run, at its minute, with the trigger's body.
    const fired = await emu.functions.advanceClock(60_000);
    assert.equal(fired.length, 1);
    assert.equal(fired[0].cause, 'trigger:reap-every-20');
    assert.equal(fired[0].response.result.mode, 'scheduled');
    assert.ok(Math.abs((fired[0].response.result.at as number) - due) < 30_000, 'the run sees the minute it was due');
    assert.equal((await trigger()).scheduled_runs.last_run_at, new Date(due).toISOString().replace(/\.\d{3}Z$/, 'Z'));
    // One period later: one more; an hour: three more.
    assert.equal((await emu.functions.advanceClock(20 * 60_000)).length, 1);
    assert.equal((await emu.functions.advanceClock(60 * 60_000)).length, 3);
    // Paused: nothing, and no catch-up when resumed.
    const pause = await raw(`${emu.doUrl}/functions/namespaces/${ns.namespace}/triggers/reap-every-20`, {
      method: 'PUT',
      body: JSON.stringify({ is_enabled: false }),
    });
    assert.equal(pause.status, 200);
    assert.equal((await trigger()).scheduled_runs.next_run_at, null);
    assert.deepEqual(await emu.functions.advanceClock(60 * 60_000), []);
    await raw(`${emu.doUrl}/functions/namespaces/${ns.namespace}/triggers/reap-every-20`, { method: 'PUT', body: JSON.stringify({ is_enabled: true }) });
    assert.equal((await emu.functions.advanceClock(20 * 60_000)).length, 1);
    // The activations are in the OpenWhisk API too.
    const acts = (await (await ow(ns, '/activations?name=thebacknd/destroy-old')).json()) as unknown[];
    assert.equal(acts.length, 6);
    emu.setClock(0);
    assertClean(emu);
  });

  test('deleting the namespace removes its actions, packages, triggers and keys; its credentials stop working', async () => {
    const ns = await createNamespace(emu, 'doomed');
    await putPackage(ns);
    await putAction(ns, 'thebacknd/destroy-old', bundle('  return {};'));
    const t = await raw(`${emu.doUrl}/functions/namespaces/${ns.namespace}/triggers`, {
      method: 'POST',
      body: JSON.stringify({ name: 'reap', function: 'thebacknd/destroy-old', type: 'SCHEDULED', is_enabled: true, scheduled_details: { cron: '* * * * *' } }),
    });
    assert.equal(t.status, 200);
    const k = await raw(`${emu.doUrl}/functions/namespaces/${ns.namespace}/keys`, { method: 'POST', body: JSON.stringify({ name: 'deploy' }) });
    assert.equal(k.status, 201);
    const key = ((await k.json()) as { access_key: { id: string; secret: string } }).access_key;
    // An access key authenticates to the OpenWhisk API as the namespace's own key does.
    assert.equal((await ow(ns, '/actions', { auth: `${key.id}:${key.secret}` })).status, 200);

    assert.equal((await raw(`${emu.doUrl}/functions/namespaces/${ns.namespace}`, { method: 'DELETE' })).status, 204);
    assert.equal((await raw(`${emu.doUrl}/functions/namespaces/${ns.namespace}/triggers`)).status, 404);
    assert.equal((await raw(`${emu.doUrl}/functions/namespaces/${ns.namespace}/keys`)).status, 404);
    assert.equal((await ow(ns, '/actions/thebacknd/destroy-old')).status, 401);
    assert.equal((await ow(ns, '/actions', { auth: `${key.id}:${key.secret}` })).status, 401);
    assert.equal((await fetch(`${ns.api_host}/api/v1/web/${ns.namespace}/thebacknd/destroy-old`)).status, 404);
    assert.deepEqual(await emu.functions.advanceClock(5 * 60_000), [], 'its trigger is gone');
    emu.setClock(0);
    assertClean(emu);
  });

  test('faults on both APIs: 429 and 5xx without side effect, timeouts, lost answers with the side effect done', async () => {
    emu.fault({ provider: 'digitalocean', method: 'POST', path: '/v2/functions/namespaces', kind: 429 });
    const limited = await raw(`${emu.doUrl}/functions/namespaces`, { method: 'POST', body: JSON.stringify({ region: 'nyc1', label: 'f' }) });
    assert.equal(limited.status, 429);
    assert.equal(emu.functions.namespaces.size, 0);
    emu.fault({ provider: 'digitalocean', method: 'GET', path: '/v2/functions/namespaces', kind: 503 });
    assert.equal((await raw(`${emu.doUrl}/functions/namespaces`)).status, 503);
    const ns = await createNamespace(emu, 'f');
    await putPackage(ns);

    emu.fault({ provider: 'openwhisk', method: 'PUT', path: '/api/v1/namespaces/{ns}/actions/{pkg}/{name}', kind: 500 });
    const failed = await putAction(ns, 'thebacknd/a', bundle('  return { ok: true };'));
    assert.equal(failed.status, 500);
    assert.equal(typeof ((await failed.json()) as { error: string }).error, 'string');
    assert.equal(emu.functions.namespaces.get(ns.namespace)!.actions.size, 0, 'a 5xx has no side effect');
    assert.equal((await putAction(ns, 'thebacknd/a', bundle('  return { ok: true };'))).status, 200);

    emu.fault({ provider: 'openwhisk', method: 'POST', path: /\/actions\/thebacknd\/a$/, kind: 429 });
    assert.equal((await invoke(ns, 'thebacknd/a')).status, 429);

    emu.fault({ provider: 'openwhisk', method: 'POST', path: /\/actions\/thebacknd\/a$/, kind: 'lost' });
    const ran = emu.functions.nextActivation();
    await assert.rejects(invoke(ns, 'thebacknd/a'));
    assert.equal((await ran).response.result.ok, true, 'the lost call still ran the action');

    emu.fault({ provider: 'openwhisk', method: 'GET', path: /\/actions$/, kind: 'timeout' });
    await assert.rejects(ow(ns, '/actions', { signal: AbortSignal.timeout(300) }));
    assert.equal((await ow(ns, '/actions')).status, 200);
    assertClean(emu);
  });

  test('the per-minute invocation limit answers 429', async () => {
    const small = await startEmulator({ functions: { invocationsPerMinute: 2 } });
    try {
      const ns = await createNamespace(small, 'limited');
      await putPackage(ns);
      await putAction(ns, 'thebacknd/a', bundle('  return {};'));
      assert.equal((await invoke(ns, 'thebacknd/a')).status, 200);
      assert.equal((await invoke(ns, 'thebacknd/a')).status, 200);
      const third = await invoke(ns, 'thebacknd/a');
      assert.equal(third.status, 429);
      assert.match(String(third.body.error), /Too many requests in the last minute \(count: 3, allowed: 2\)/);
      // A minute later (on the emulated clock) the window has moved on.
      await small.functions.advanceClock(61_000);
      assert.equal((await invoke(ns, 'thebacknd/a')).status, 200);
      assertClean(small);
    } finally {
      await small.close();
    }
  });

  test('the secrets scan covers deployed parameters: allowed where they are deployed, found in activation results and logs', async () => {
    const ns = await createNamespace(emu, 'secrets');
    const token = { name: 'bound DigitalOcean token', value: `dop_v1_${'5e'.repeat(32)}`, allowedIn: DEPLOYED_PARAMETERS };
    await putPackage(ns);
    await putAction(ns, 'thebacknd/careful', bundle('  return { machines: 0, tokenLength: params.token.length };'), {
      parameters: [{ key: 'token', value: token.value }],
    });
    await putAction(ns, 'thebacknd/leaky', bundle('  console.log("using", params.token); return { echoed: params.token.slice(7) };'), {
      parameters: [{ key: 'token', value: token.value }],
    });
    await invoke(ns, 'thebacknd/careful');
    const scan = () => [...emulatorArtefacts(emu), ...functionsArtefacts(emu)];
    assert.deepEqual(scanForSecrets(scan(), [token]), [], 'deploying and reading back the action is where the token belongs');
    await invoke(ns, 'thebacknd/leaky');
    const found = scanForSecrets(scan(), [token]).map((f) => f.artefact.replace(/[0-9a-f]{32}/, 'ID'));
    assert.ok(found.includes('emulator activation thebacknd/leaky ID logs'), found.join('\n'));
    assert.ok(found.includes('emulator activation thebacknd/leaky ID result'), found.join('\n'));
    // The namespace key the emulator minted: only in the DigitalOcean answers that hand it out.
    registerFunctionsSecrets(emu);
    const keyFindings = scanForSecrets(scan()).filter((f) => f.secret.startsWith('functions namespace key'));
    assert.deepEqual(keyFindings, []);
    assertClean(emu);
  });
});
