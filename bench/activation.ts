// Activation time inside real VS Code: the production bundle, loaded as a development extension into a fresh
// code-server (VS Code 1.100.3) opened in headless Chromium; the figure is VS Code's own measurement (module load +
// activate()) as its "Developer: Show Running Extensions" editor shows it, next to the built-in Git extension's.
// BENCH_ACTIVATION_BASE=<git ref> also builds that commit's bundle and alternates the two, window by window, so a
// before/after comparison shares the machine's load (on a shared machine the load moves more than the change).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser, newLoopbackPage } from '../test/runners/browser';
import { codeServerEntry, startCodeServer } from '../test/runners/codeServer';
import { buildProductionBundle } from './bundle';
import { figure, notAvailable, ratio, type Figure } from './figures';

const ROOT = path.resolve(__dirname, '..', '..');
const GROUP = 'activation (VS Code)';

/** In the Running Extensions editor's text, the activation ms of the first row whose name matches. */
function activationMs(text: string, name: RegExp): number | undefined {
  // Each row reads: name, version, host, then "[Startup ]Activation: 41ms".
  const lines = text.split('\n').map((l) => l.trim());
  const at = lines.findIndex((l) => name.test(l));
  if (at < 0) return undefined;
  for (const l of lines.slice(at + 1, at + 5)) {
    const m = /Activation: (\d+)ms/.exec(l);
    if (m) return Number(m[1]);
  }
  return undefined;
}

async function once(extDir: string): Promise<{ ours: number; git: number | undefined }> {
  const server = await startCodeServer({
    // Nothing can reach a cloud: the endpoints point at a closed loopback port.
    settings: { 'thebacknd.digitalocean.endpoint': 'http://127.0.0.1:9/v2', 'thebacknd.hetzner.endpoint': 'http://127.0.0.1:9/v1' },
  });
  const browser = await launchBrowser().catch(async (e: unknown) => {
    await server.stop();
    throw e;
  });
  try {
    const page = await newLoopbackPage(browser);
    page.setDefaultTimeout(30_000);
    await page.goto(server.workbenchUrl({ extensionDevelopmentPath: extDir }));
    await page.locator('.activitybar a.action-label[aria-label="Thebacknd"]').waitFor({ state: 'visible', timeout: 60_000 });
    const editor = page.locator('.runtime-extensions-editor');
    for (let attempt = 0; ; attempt++) {
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input.input');
      await input.fill('>Developer: Show Running Extensions');
      await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Developer: Show Running Extensions' }).first().click();
      await editor.waitFor({ state: 'visible' });
      const text = await editor.innerText();
      const ours = activationMs(text, /^thebacknd\.thebacknd$|^Thebacknd$/);
      if (ours !== undefined) return { ours, git: activationMs(text, /^Git$/) };
      // onStartupFinished may come a little after the workbench shows: look again.
      if (attempt >= 10) throw new Error(`Thebacknd is not in the running extensions:\n${text.slice(0, 400)}`);
      await page.keyboard.press('Escape');
      await page.waitForTimeout(1000);
    }
  } finally {
    await browser.close().catch(() => undefined);
    await server.stop();
  }
}

/** The extension as it ships (.vscodeignore keeps the manifest, the bundle and its vendor files, the icon). */
function shipped(dir: string, from: string): void {
  fs.mkdirSync(path.join(dir, 'media'), { recursive: true });
  fs.copyFileSync(path.join(from, 'package.json'), path.join(dir, 'package.json'));
  fs.copyFileSync(path.join(ROOT, 'media/thebacknd.svg'), path.join(dir, 'media/thebacknd.svg'));
}

/** The production bundle of commit `ref`, built with that commit's own esbuild options, into `dir`/dist. */
async function buildAt(ref: string, dir: string): Promise<void> {
  const src = path.join(dir, 'src-tree');
  fs.mkdirSync(src);
  const tar = execFileSync('git', ['-C', ROOT, 'archive', ref, 'src', 'scripts', 'package.json'], { maxBuffer: 1 << 28 });
  execFileSync('tar', ['-x', '-C', src], { input: tar });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'));
  const options = require(path.join(src, 'scripts/esbuild-options.cjs')) as {
    nodeBundle(o: object): object;
    vendorBundles(o: object): object;
  };
  const esbuild = await import('esbuild');
  const shared = { production: true, sourcemap: false, absWorkingDir: src };
  await esbuild.build({ ...options.nodeBundle({ entry: 'src/extension.ts', outfile: path.join(dir, 'dist/extension.js'), ...shared }), logLevel: 'error' });
  await esbuild.build({ ...options.vendorBundles({ outdir: path.join(dir, 'dist/vendor'), ...shared }), logLevel: 'error' });
  shipped(dir, src);
}

export async function benchActivation(repeats: number): Promise<Figure[]> {
  if (!fs.existsSync(codeServerEntry)) return [notAvailable(GROUP, 'Thebacknd, production bundle', 'ms', 'needs code-server: npm run setup:vscode')];
  const base = process.env.BENCH_ACTIVATION_BASE;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-bench-ext-'));
  const baseDir = base ? fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-bench-base-')) : undefined;
  try {
    shipped(dir, ROOT);
    await buildProductionBundle(path.join(dir, 'dist'));
    if (base && baseDir) await buildAt(base, baseDir);
    const ours: number[] = [];
    const before: number[] = [];
    const git: number[] = [];
    /** Ours ÷ Git within one window: both load in the same extension host at the same moment, so the machine's load moves both. */
    const paired: number[] = [];
    for (let i = 0; i < repeats; i++) {
      if (baseDir) {
        const b = await once(baseDir);
        before.push(b.ours);
        if (b.git !== undefined) git.push(b.git);
      }
      const r = await once(dir);
      ours.push(r.ours);
      if (r.git !== undefined) {
        git.push(r.git);
        paired.push(Math.round((100 * r.ours) / r.git) / 100);
      }
    }
    const f = figure(GROUP, 'Thebacknd, production bundle (load + activate)', 'ms', ours, 'VS Code 1.100.3 in code-server, fresh server each');
    const b = before.length ? [figure(GROUP, `Thebacknd at ${base}, alternating windows`, 'ms', before)] : [];
    if (!git.length) return [f, ...b];
    const g = figure(GROUP, 'built-in Git extension, same windows', 'ms', git);
    const faster = paired.filter((x) => x < 1).length;
    const pairs = paired.length
      ? [figure(GROUP, 'Thebacknd ÷ Git, window by window (goal: 1× or less)', '×', paired, `less than Git in ${faster} of ${paired.length} windows`)]
      : [];
    return [ratio(f, g, 'Git'), ...b.map((x) => ratio(x, g, 'Git')), g, ...pairs];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    if (baseDir) fs.rmSync(baseDir, { recursive: true, force: true });
  }
}
