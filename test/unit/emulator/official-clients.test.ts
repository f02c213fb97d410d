// The Hetzner emulator against Hetzner's own clients, not only ours: Debian's python3-hcloud (hcloud-python) and
// hcloud-cli (the hcloud CLI on hcloud-go). Both send integer IDs where the spec says string (image, server_type,
// location, ssh_keys); the real API takes them, so the emulator must too (validate.ts, LENIENCIES), while every
// other field is still checked against the spec.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { assertClean, raw } from './helpers';

/** Debian's interpreter: the package installs into its dist-packages, not into another Python on PATH. */
const PYTHON = '/usr/bin/python3';
const TOKEN = 'hcloud-official-client-token';

/** Runs a client asynchronously: the emulator answers from this same process. */
function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ status: err ? (((err as { code?: unknown }).code as number | null) ?? 1) : 0, stdout, stderr });
    });
  });
}

function python(emu: Emulator, script: string) {
  return run(PYTHON, ['-c', script], { EMU: emu.hetznerUrl, TOKEN });
}

describe('Hetzner emulator with the official clients', () => {
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator({ delays: { hetznerStartingMs: 20, hetznerRunningMs: 20, actionMs: 20, deleteMs: 0 } });
  });
  after(() => emu.close());

  test('hcloud-python creates a server by integer IDs (type, image, location, ssh key), lists and deletes it', async () => {
    const r = await python(
      emu,
      `
import json, os
from hcloud import Client
from hcloud.images.domain import Image
from hcloud.locations.domain import Location
from hcloud.server_types.domain import ServerType
from hcloud.ssh_keys.domain import SSHKey
c = Client(token=os.environ["TOKEN"], api_endpoint=os.environ["EMU"])
made = c.servers.create(name="official-py", server_type=ServerType(id=104), image=Image(id=201000001),
                        location=Location(id=1), ssh_keys=[SSHKey(id=2323)], labels={"thebacknd": ""})
s = c.servers.get_by_id(made.server.id)
print(json.dumps({"type": s.server_type.name, "location": s.datacenter.location.name, "image": s.image.id,
                  "password": made.root_password, "listed": [x.name for x in c.servers.get_all(label_selector="thebacknd")]}))
c.servers.delete(s)
`,
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(out, { type: 'cx22', location: 'fsn1', image: 201000001, password: null, listed: ['official-py'] });
    // What went over the wire really was integers (the leniency is exercised, not bypassed).
    const create = emu.requests.find((q) => q.method === 'POST' && q.path.endsWith('/servers'));
    assert.deepEqual(
      ['server_type', 'image', 'location', 'ssh_keys'].map((k) => (create?.body as Record<string, unknown>)[k]),
      [104, 201000001, 1, [2323]],
    );
    assert.equal(emu.state.servers.size, 0);
    assertClean(emu);
  });

  test('hcloud-cli (hcloud-go) creates and deletes a server, resolving names to IDs as it does against the real API', async () => {
    const env = { HCLOUD_TOKEN: TOKEN, HCLOUD_ENDPOINT: emu.hetznerUrl, HCLOUD_CONFIG: '/nonexistent/hcloud-cli.toml' };
    const hcloud = (...args: string[]) => run('hcloud', args, env);
    const made = await hcloud(
      'server',
      'create',
      '--name',
      'official-go',
      '--type',
      '104',
      '--image',
      '201000001',
      '--location',
      'fsn1',
      '--ssh-key',
      'thebacknd-test',
      '--label',
      'thebacknd=',
    );
    assert.equal(made.status, 0, made.stderr + made.stdout);
    const create = emu.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/servers')).at(-1);
    const body = create?.body as Record<string, unknown>;
    // hcloud-cli 1.30 passes --type through as written, but resolves the image and the key to integer IDs.
    assert.equal(body.server_type, '104');
    assert.equal(body.image, 201000001, 'hcloud-go sends the image as its integer ID');
    assert.deepEqual(body.ssh_keys, [2323], 'and the ssh keys as integers');
    const listed = await hcloud('server', 'list', '-o', 'noheader', '-o', 'columns=name,status');
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /^official-go\s+(initializing|starting|running)\s*$/m);
    const gone = await hcloud('server', 'delete', 'official-go');
    assert.equal(gone.status, 0, gone.stderr);
    assert.equal(emu.state.servers.size, 0);
    assertClean(emu);
  });

  test('still validated: a fractional ID, a boolean image or a numeric name is refused with 422 invalid_input', async () => {
    const base = { name: 'strict', server_type: 'cx22', image: 'debian-12', location: 'fsn1' };
    for (const [field, value] of [
      ['server_type', 104.5],
      ['image', true],
      ['name', 7],
      ['ssh_keys', [2323.5]],
    ] as const) {
      const r = await raw(`${emu.hetznerUrl}/servers`, { method: 'POST', body: JSON.stringify({ ...base, [field]: value }) });
      assert.equal(r.status, 422, `${field}: ${JSON.stringify(value)}`);
      const b = (await r.json()) as { error: { code: string; details: { fields: { name: string }[] } } };
      assert.equal(b.error.code, 'invalid_input');
      assert.ok(
        b.error.details.fields.some((f) => f.name.startsWith(field)),
        JSON.stringify(b),
      );
    }
    assert.equal(emu.state.servers.size, 0);
    emu.violations.splice(0); // those requests were off-spec on purpose
    assertClean(emu);
  });
});
