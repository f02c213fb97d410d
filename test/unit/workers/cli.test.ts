// `thebacknd build --workers N`: the CLI face of the worker build, against the emulator with test hosts as workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Writable } from 'node:stream';
import { main } from '../../../src/cli/main';
import { PLACEMENT, testFlake, TOKEN, workerWorld, type WorkerWorld } from './helpers';

function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk.toString());
        done();
      },
    }),
    text: () => chunks.join(''),
  };
}

async function cli(w: WorkerWorld | undefined, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await main(['build', ...argv], {
    interactive: false,
    stdout: out.stream,
    stderr: err.stream,
    env: { ...(w?.env ?? process.env), HCLOUD_TOKEN: TOKEN, DIGITALOCEAN_ACCESS_TOKEN: TOKEN, ...env },
    signal: new AbortController().signal,
  });
  return { code, out: out.text(), err: err.text() };
}

test('wrong arguments exit with 2 and say what is wrong', async () => {
  const none = await cli(undefined, ['--workers', '0', '.#x']);
  assert.equal(none.code, 2);
  assert.match(none.err, /--workers must be a whole number from 1 to 10 \(got "0"\)/);
  assert.equal((await cli(undefined, ['--workers', '11', '.#x'])).code, 2);
  assert.equal((await cli(undefined, ['--workers', '2', '--hours', '0', '.#x'])).code, 2);
  assert.equal((await cli(undefined, ['--workers', '2', '--provider', 'aws', '.#x'])).code, 2);
  const help = await cli(undefined, ['--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /^Usage: thebacknd build \[options\]/);
  assert.match(help.out, /^  --workers N +how many workers/m);
});

test('--estimate prints the server types (cores, RAM, price per hour) and the estimate, and creates nothing', async (t) => {
  const w = await workerWorld(t);
  const r = await cli(w, ['--workers', '3', '--provider', 'hetzner', '--endpoint', w.emu.hetznerUrl, '--size', 'cx22', '--hours', '2', '--estimate']);
  assert.equal(r.code, 0, r.err);
  const lines = r.err.split('\n');
  assert.match(lines[1] ?? '', /^TYPE\s+CORES\s+RAM GiB\s+DISK GiB\s+PER HOUR$/);
  assert.ok(
    lines.some((l) => /^cx22\s+2\s+4\s+40\s+€0\.0060$/.test(l)),
    r.err,
  );
  assert.ok(
    lines.some((l) => /^cx41\s+4\s+16\s+160\s+€0\.\d{4}$/.test(l)),
    'the old types at the seed prices (gross) are listed too',
  );
  assert.match(r.err, /Estimate: 3 × cx22 at €0\.0060\/h = €0\.0180\/h; about €0\.0360 for 2 h \(Hetzner bills each started hour\)\./);
  assert.equal(w.alive('hetzner'), 0);
  assert.equal(w.emu.requests.filter((q) => q.method === 'POST').length, 0);
});

test('without a base image the build stops before creating anything', async (t) => {
  const w = await workerWorld(t);
  const r = await cli(w, ['--workers', '1', '--provider', 'hetzner', '--endpoint', w.emu.hetznerUrl, 'path:/nonexistent#x'], { THEBACKND_HCLOUD_IMAGE: '' });
  assert.equal(r.code, 1);
  assert.match(r.err, /no Hetzner image is set: .*--image/);
  assert.equal(w.emu.requests.filter((q) => q.method === 'POST').length, 0);
});

test('a build on 2 DigitalOcean workers prints the result path on stdout and the cost on stderr; no worker is left', { timeout: 240_000 }, async (t) => {
  const w = await workerWorld(t);
  const flake = testFlake(w.dir, `cli-${Date.now()}`);
  const p = PLACEMENT.digitalocean;
  const r = await cli(w, [
    '--workers',
    '2',
    '--provider',
    'digitalocean',
    '--endpoint',
    w.emu.doUrl,
    '--image',
    p.image,
    '--size',
    p.size,
    '--region',
    p.region,
    '--max-jobs',
    '1',
    '--hours',
    '0.5',
    '--flake',
    flake.dir,
    '--out-link',
    `${w.dir}/out`,
    '--state-dir',
    w.storageDir,
    flake.installable('all'),
  ]);
  assert.equal(r.code, 0, r.err);
  const target = fs.readlinkSync(`${w.dir}/out`);
  assert.equal(r.out, `${target}\n`);
  assert.equal(fs.readFileSync(target, 'utf8'), 'leaf a\nleaf b\nleaf c\n');
  assert.match(r.err, /^TYPE\s+CORES\s+RAM GiB\s+DISK GiB\s+PER HOUR\ns-2vcpu-2gb\s+2\s+2\s+60\s+\$0\.0268\n/);
  assert.match(r.err, /Estimated cost: 2 × s-2vcpu-2gb at \$0\.0268\/h = \$0\.0536\/h; about \$0\.0268 for 30 min \(DigitalOcean bills per second/);
  assert.match(r.err, /^building '\/nix\/store\/[a-z0-9]{32}-leaf-a\.drv' on 'ssh:\/\/root@10\.213\./m);
  assert.match(r.err, /^Cost: 2 workers for up to \d+ (s|min): \$0\.0200 \(DigitalOcean bills per second, at least 60 s or \$0\.01\)\.$/m);
  assert.match(r.err, /^Result: .*\/out -> \/nix\/store\/[a-z0-9]{32}-all \(thebacknd-1: \d builds?, thebacknd-2: \d builds?\)$/m);
  await w.assertNothingLeft('digitalocean');
});
