// DigitalOcean Functions in the emulator: namespaces and triggers through the DigitalOcean API, the namespace's
// OpenWhisk API (actions run for real in child Node processes), web actions, scheduled triggers on the emulator's
// clock, and faults on both APIs.
import * as assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
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
    assert.deepEqual(((await list.json()) as { namespaces: Namespace[] }).namespaces.map((n) => n.label), ['thebacknd-reaper']);
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
      { parameters: [{ key: 'token', value: 'bound-token' }, { key: 'who', value: 'bound' }] },
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

    // GET and DELETE.
    const get = await ow(ns, '/actions/thebacknd/list?code=false');
    assert.equal(get.status, 200);
    assert.equal(((await get.json()) as { exec: { code?: string } }).exec.code, undefined);
    assert.equal((await ow(ns, '/actions/thebacknd/list', { method: 'DELETE' })).status, 200);
    assert.equal((await ow(ns, '/actions/thebacknd/list')).status, 404);
    assertClean(emu);
  });
});
