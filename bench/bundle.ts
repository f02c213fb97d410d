// Bundle size and the cost of loading it. The bundle is built here with the production options scripts/build.mjs
// uses (scripts/esbuild-options.cjs: minified, ssh2 and the AWS SDK in vendor files loaded on first use), so the
// figure does not depend on whatever dist/ holds. Loading is timed in fresh Node processes that resolve `vscode` to
// a stub: the cold `require` of the bundle alone. That is NOT VS Code's activation time (see activation.ts).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { figure, ratio, type Figure } from './figures';

const ROOT = path.resolve(__dirname, '..', '..');

interface EsbuildOptions {
  nodeBundle(o: { entry: string; outfile: string; production?: boolean; sourcemap?: boolean; absWorkingDir?: string; metafile?: boolean }): object;
  vendorBundles(o: { outdir: string; production?: boolean; sourcemap?: boolean; absWorkingDir?: string }): object;
}
const options = require(path.join(ROOT, 'scripts/esbuild-options.cjs')) as EsbuildOptions;

/** The production bundle written to `dir` (extension.js, and its vendor files in dir/vendor/); returns its path. */
export async function buildProductionBundle(dir: string): Promise<string> {
  return (await build(dir)).outfile;
}

async function build(dir: string): Promise<{ outfile: string; biggest: string; vendor: { name: string; bytes: number }[] }> {
  const esbuild = await import('esbuild');
  const outfile = path.join(dir, 'extension.js');
  const shared = { production: true, sourcemap: false, absWorkingDir: ROOT };
  const result = await esbuild.build({ ...options.nodeBundle({ entry: 'src/extension.ts', outfile, metafile: true, ...shared }), logLevel: 'error' } as Parameters<
    typeof esbuild.build
  >[0] & { metafile: true });
  await esbuild.build({ ...options.vendorBundles({ outdir: path.join(dir, 'vendor'), ...shared }), logLevel: 'error' } as Parameters<typeof esbuild.build>[0]);
  const vendor = fs
    .readdirSync(path.join(dir, 'vendor'))
    .filter((f) => f.endsWith('.js'))
    .map((f) => ({ name: f, bytes: fs.statSync(path.join(dir, 'vendor', f)).size }));
  const byPackage = new Map<string, number>();
  for (const out of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(out.inputs)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const key = m ? m[1]! : 'thebacknd (src/)';
      byPackage.set(key, (byPackage.get(key) ?? 0) + bytesInOutput);
    }
  }
  const biggest = [...byPackage]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([k, n]) => `${k} ${Math.round(n / 1024)} KiB`)
    .join(', ');
  return { outfile, biggest, vendor };
}

/** A child Node that maps `vscode` to a stub, requires the bundle once and prints how long that took (ms). */
const PROBE = `
const Module = require('module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === 'vscode' ? require.resolve(process.env.STUB) : resolve.call(this, request, ...rest);
};
const t = process.hrtime.bigint();
const ext = require(process.env.BUNDLE);
const ms = Number(process.hrtime.bigint() - t) / 1e6;
if (typeof ext.activate !== 'function') throw new Error('the bundle exports no activate()');
process.stdout.write(String(ms));
`;

/** Any property is a no-op function/object: enough for module-level code that only references the API. */
const STUB = `
const any = () => new Proxy(function () {}, { get: (_t, k) => (k === Symbol.toPrimitive ? () => '' : any()), apply: () => any(), construct: () => any() });
module.exports = any();
`;

export async function benchBundle(repeats: number): Promise<Figure[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-bench-bundle-'));
  try {
    const { outfile: bundle, biggest, vendor } = await build(dir);
    const bytes = fs.statSync(bundle).size;
    const gz = zlib.gzipSync(fs.readFileSync(bundle), { level: 9 }).length;
    const stub = path.join(dir, 'vscode-stub.js');
    fs.writeFileSync(stub, STUB);
    const load = (file: string): number => {
      const r = spawnSync(process.execPath, ['-e', PROBE], { env: { ...process.env, BUNDLE: file, STUB: stub }, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`loading ${file} failed: ${r.stderr.split('\n').slice(0, 5).join('\n')}`);
      return Number(r.stdout);
    };
    // The floor: a fresh Node requiring an empty module the same way.
    const empty = path.join(dir, 'empty.js');
    fs.writeFileSync(empty, 'exports.activate = () => undefined;\n');
    load(bundle); // the first read of the file from disk is not what a user's second window pays
    const samples: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < repeats; i++) {
      samples.push(load(bundle));
      floor.push(load(empty));
    }
    const size = figure('bundle', 'dist/extension.js, production (minified)', 'KiB', [Math.round(bytes / 1024)], `biggest: ${biggest}`);
    const gzip = ratio(figure('bundle', 'the same, gzip -9', 'KiB', [Math.round(gz / 1024)]), size, 'of the bundle');
    const req = figure('activation (stub)', 'cold require() of the bundle, Node + stub vscode', 'ms', samples, 'not VS Code activation');
    const base = figure('activation (stub)', 'cold require() of an empty module (floor)', 'ms', floor);
    const later = figure(
      'bundle',
      'dist/vendor/*.js, loaded on first use (not at activation)',
      'KiB',
      [Math.round(vendor.reduce((n, v) => n + v.bytes, 0) / 1024)],
      vendor.map((v) => `${v.name} ${Math.round(v.bytes / 1024)} KiB`).join(', '),
    );
    return [size, gzip, later, ratio(req, base, 'empty module'), base];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
