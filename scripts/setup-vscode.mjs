// Installs the pinned real VS Code used by the integration and browser tests (code-server 4.100.3 in test/vscode),
// offline-friendly and idempotent: a second run with the same lockfile and Node ABI does nothing.
// Usable as a script (`npm run setup:vscode`, `--force` reinstalls) or imported: `ensureVscode()`.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const vscodeDir = join(root, 'test', 'vscode');
export const codeServerEntry = join(vscodeDir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const nestedDir = join(vscodeDir, 'node_modules', 'code-server', 'lib', 'vscode');
const stampFile = join(vscodeDir, 'node_modules', '.thebacknd-setup.json');

// Packages inside code-server's own nested installs (lib/vscode, lib/vscode/extensions) whose build scripts VS Code
// needs. Those `npm install`s have no allowScripts in their package.json, so they go into their own .npmrc (npm refuses
// allow-scripts from the command line or the environment in a project install).
const nestedScripts = {
  '.': [
    '@parcel/watcher', '@vscode/deviceid', '@vscode/ripgrep', '@vscode/spdlog', '@vscode/windows-process-tree',
    '@vscode/windows-registry', 'kerberos', 'native-watchdog', 'node-pty',
  ],
  // Dev dependencies of the built-in extensions: the install omits them, but the strict check lists them.
  extensions: ['@parcel/watcher', 'esbuild'],
};

// What @vscode/ripgrep's postinstall would download from GitHub; it takes a tarball from this cache path instead.
const ripgrepCache = { dir: 'vscode-ripgrep-cache-1.15.11', file: 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz' };

const aptHint = 'Install them with: apt-get update && apt-get install -y chromium ripgrep libkrb5-dev';

/**
 * The Debian packages the install (ripgrep, kerberos headers) and the browser tests (chromium) need; throws one
 * clear sentence naming what is missing.
 */
export function checkPrerequisites({ browser = true, build = true } = {}) {
  const missing = [];
  if (browser && !existsSync('/usr/bin/chromium')) missing.push('chromium (/usr/bin/chromium)');
  if (build && !existsSync('/usr/bin/rg')) missing.push('ripgrep (/usr/bin/rg)');
  if (build && !existsSync('/usr/include/krb5.h') && !existsSync('/usr/include/krb5/krb5.h')) {
    missing.push('libkrb5-dev (kerberos headers)');
  }
  if (Number(process.versions.node.split('.')[0]) !== 20) {
    missing.push(`Node 20 (code-server 4.100.3 requires it; this is Node ${process.versions.node})`);
  }
  if (missing.length) throw new Error(`Missing for the VS Code tests: ${missing.join(', ')}. ${aptHint}`);
}

function fingerprint() {
  const lock = readFileSync(join(vscodeDir, 'package-lock.json'));
  const pkg = readFileSync(join(vscodeDir, 'package.json'));
  return createHash('sha256').update(lock).update(pkg).update(process.versions.modules).digest('hex');
}

function installed() {
  if (!existsSync(codeServerEntry) || !existsSync(stampFile)) return false;
  try {
    return JSON.parse(readFileSync(stampFile, 'utf8')).fingerprint === fingerprint();
  } catch {
    return false;
  }
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...opts });
  if (r.error) throw r.error;
  return r;
}

function install() {
  const scratch = mkdtempSync(join(tmpdir(), 'thebacknd-setup-vscode-'));
  try {
    const cache = join(scratch, ripgrepCache.dir);
    const bin = join(scratch, 'rg-bin');
    mkdirSync(cache);
    mkdirSync(bin);
    copyFileSync('/usr/bin/rg', join(bin, 'rg'));
    const tar = run('tar', ['-czf', join(cache, ripgrepCache.file), '-C', bin, 'rg']);
    if (tar.status !== 0) throw new Error(`Could not pack ripgrep for the install: ${tar.stderr}`);

    const env = {
      ...process.env,
      TMPDIR: scratch, // where @vscode/ripgrep looks for its cache
      npm_config_unsafe_perm: 'true', // code-server's postinstall refuses to run as root without it
      npm_config_yes: 'true', // node-pty's postinstall calls npx
      npm_config_strict_allow_scripts: 'true', // a skipped build script would leave VS Code half-installed
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    };
    console.log('setup-vscode: installing code-server 4.100.3 into test/vscode (about a minute)…');
    const started = Date.now();
    // Two steps so that the nested project exists before its scripts run: unpack, approve the nested build scripts
    // in lib/vscode's own .npmrc, then run the install scripts (ours are approved in test/vscode/package.json).
    let ci = run('npm', ['ci', '--ignore-scripts', '--no-progress'], { cwd: vscodeDir, env });
    if (ci.status === 0) {
      for (const [dir, names] of Object.entries(nestedScripts)) {
        appendFileSync(join(nestedDir, dir, '.npmrc'), `allow-scripts=${names.join(',')}\n`);
      }
      ci = run('npm', ['rebuild', '--foreground-scripts'], { cwd: vscodeDir, env });
    }
    if (ci.status !== 0 || !existsSync(codeServerEntry)) {
      const tail = `${ci.stdout}\n${ci.stderr}`.trim().split('\n').slice(-40).join('\n');
      throw new Error(`npm ci in test/vscode failed (exit ${ci.status}). Last lines:\n${tail}`);
    }
    const pty = join(nestedDir, 'node_modules/node-pty/build/Release/pty.node');
    if (!existsSync(pty)) throw new Error('code-server installed without its native modules (node-pty was not built).');
    writeFileSync(stampFile, JSON.stringify({ fingerprint: fingerprint(), at: new Date().toISOString() }, null, 2));
    console.log(`setup-vscode: done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Installs code-server into test/vscode unless the same install is already there; returns its entry script. */
export function ensureVscode({ force = false, browser = true } = {}) {
  const build = force || !installed();
  checkPrerequisites({ browser, build });
  if (build) {
    rmSync(join(vscodeDir, 'node_modules'), { recursive: true, force: true });
    install();
  }
  return codeServerEntry;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    ensureVscode({ force: process.argv.includes('--force') });
    console.log(`setup-vscode: code-server ready (${codeServerEntry})`);
  } catch (err) {
    console.error(`setup-vscode: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  }
}
