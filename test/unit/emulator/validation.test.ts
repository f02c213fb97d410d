// The spec validator itself must be able to fail: corrupted answers and off-spec requests end up in `violations`.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { findSpecsDir } from '../../fixtures/emulator/spec';
import { assertClean, dots, hcloud, raw } from './helpers';

describe('spec validation', () => {
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator({ delays: { doActiveMs: 0, hetznerStartingMs: 0, hetznerRunningMs: 0, actionMs: 0 } });
  });
  after(() => emu.close());

  test('a response that breaks the DigitalOcean schema is recorded (missing required field, wrong enum)', async () => {
    emu.addDroplet({ name: 'x', tags: ['thebacknd'] });
    emu.setResponseFilter(({ body }) => {
      const b = body as { droplets?: Record<string, unknown>[] };
      for (const d of b?.droplets ?? []) {
        delete (d.size as Record<string, unknown>).price_hourly;
        d.status = 'running'; // a Hetzner word, not a DigitalOcean one
      }
      return body;
    });
    try {
      await dots(emu).droplet.listDroplets({});
    } finally {
      emu.setResponseFilter(undefined);
    }
    const v = emu.violations.splice(0);
    assert.ok(
      v.some((x) => /droplets_list response 200: \/droplets\/0\/size must have required property 'price_hourly'/.test(x)),
      v.join('\n'),
    );
    assert.ok(
      v.some((x) => /\/droplets\/0\/status must be equal to one of the allowed values/.test(x)),
      v.join('\n'),
    );
    for (const id of [...emu.state.droplets.keys()]) emu.state.droplets.delete(id);
    assertClean(emu);
  });

  test('a Hetzner answer with a wrong type, or a DigitalOcean error body in the Hetzner API, is recorded', async () => {
    emu.setResponseFilter(({ provider, body }) => {
      if (provider !== 'hetzner') return body;
      const b = body as { locations?: { latitude: unknown }[] };
      if (b.locations) b.locations[0].latitude = '50.47';
      return body;
    });
    await hcloud(emu).GET('/locations');
    emu.setResponseFilter(({ provider, status }) => (provider === 'hetzner' && status === 404 ? { id: 'not_found', message: 'nope' } : undefined));
    await hcloud(emu).GET('/servers/{id}', { params: { path: { id: 424242 } } });
    emu.setResponseFilter(undefined);
    const v = emu.violations.splice(0);
    assert.ok(
      v.some((x) => /list_locations response 200: \/locations\/0\/latitude must be number/.test(x)),
      v.join('\n'),
    );
    assert.ok(
      v.some((x) => /get_server response 404: \(root\) must have required property 'error'/.test(x)),
      v.join('\n'),
    );
    assertClean(emu);
  });

  test('an off-spec request body is refused as the API would (422) and recorded', async () => {
    // server_type is a string in the spec; the API also takes an integer ID (validate.ts, LENIENCIES), not a fraction.
    const h = await raw(`${emu.hetznerUrl}/servers`, {
      method: 'POST',
      body: JSON.stringify({ name: 'thebacknd-1', server_type: 22.5, image: 'debian-12' }),
    });
    assert.equal(h.status, 422);
    const hb = (await h.json()) as { error: { code: string; details: { fields: { name: string }[] } } };
    assert.equal(hb.error.code, 'invalid_input');
    assert.equal(hb.error.details.fields[0].name, 'server_type');
    assert.equal(emu.state.servers.size, 0);

    const d = await raw(`${emu.doUrl}/droplets`, { method: 'POST', body: JSON.stringify({ name: 'thebacknd-1', region: 'fra1', size: 's-1vcpu-1gb', image: true }) });
    assert.equal(d.status, 422);
    assert.equal(((await d.json()) as { id: string }).id, 'unprocessable_entity');
    const v = emu.violations.splice(0);
    assert.ok(
      v.some((x) => /hetzner create_server request body: \/server_type must be string/.test(x)),
      v.join('\n'),
    );
    assert.ok(
      v.some((x) => /digitalocean droplets_create request body/.test(x)),
      v.join('\n'),
    );
    assertClean(emu);
  });

  test('unknown query parameters, bad path parameters and unknown operations are recorded', async () => {
    await raw(`${emu.hetznerUrl}/servers?labels=thebacknd`); // the parameter is label_selector
    await raw(`${emu.doUrl}/droplets?per_page=500`); // above the spec's maximum of 200
    await raw(`${emu.doUrl}/droplets/not-a-number`);
    await raw(`${emu.hetznerUrl}/servers/1/actions/teleport`, { method: 'POST' });
    const v = emu.violations.splice(0);
    assert.ok(
      v.some((x) => /list_servers request: unknown query parameter 'labels'/.test(x)),
      v.join('\n'),
    );
    assert.ok(
      v.some((x) => /droplets_list request query: \/per_page must be <= 200/.test(x)),
      v.join('\n'),
    );
    assert.ok(
      v.some((x) => /droplets_get request path: \/droplet_id must be integer/.test(x)),
      v.join('\n'),
    );
    assert.ok(
      v.some((x) => /POST \/servers\/1\/actions\/teleport: no such operation/.test(x)),
      v.join('\n'),
    );
    assertClean(emu);
  });

  test('validate: false turns checking off', async () => {
    const loose = await startEmulator({ validate: false });
    try {
      loose.setResponseFilter(() => ({ nonsense: true }));
      await raw(`${loose.doUrl}/account?bogus=1`);
      assert.deepEqual(loose.violations, []);
    } finally {
      await loose.close();
    }
  });

  test('the specs are found by walking up from the emulator, or through THEBACKND_SPECS_DIR', () => {
    const dir = findSpecsDir();
    assert.ok(fs.existsSync(path.join(dir, 'hetzner.cloud.v1.json')));
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-specs-'));
    try {
      const script = `process.env.THEBACKND_SPECS_DIR=${JSON.stringify(empty)};try{require(${JSON.stringify(require.resolve('../../fixtures/emulator/spec'))}).findSpecsDir();console.log('found')}catch(e){console.log(e.message)}`;
      const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
      assert.match(out.stdout, /THEBACKND_SPECS_DIR=.* does not contain digitalocean\.v2\.yaml/);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
