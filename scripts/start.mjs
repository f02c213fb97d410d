// `npm start`: install what is missing, build, and open VS Code with the extension loaded in development mode:
// desktop VS Code (`code`) when it is on PATH, otherwise code-server in the browser (URL printed).
// With no DIGITALOCEAN_ACCESS_TOKEN / HCLOUD_TOKEN in the environment, the extension runs against the embedded
// local cloud emulator (when it is built), in a profile of its own; `--real` uses the real clouds and your tokens.
// Options: --browser (code-server even if `code` exists), --real, --port N (code-server; default: any free port),
//          --folder DIR (the folder to open; default: this repository).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { values } = parseArgsOrExit({
  options: {
    browser: { type: 'boolean' },
    real: { type: 'boolean' },
    port: { type: 'string' },
    folder: { type: 'string' },
  },
});

function step(what, cmd, args, { allowFail = false } = {}) {
  console.log(`start: ${what}…`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0 && !allowFail) {
    console.error(`start: ${what} failed (exit ${r.status}).`);
    process.exit(1);
  }
}

function onPath(name) {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, name)));
}

// 1. Dependencies and build.
if (!existsSync(join(root, 'node_modules', 'esbuild'))) step('installing dependencies (npm ci)', 'npm', ['ci']);
step('bundling the extension', process.execPath, [join(root, 'scripts/build.mjs')]);
// tsc emits even when some file has a type error; what start needs is the emitted JS (launcher, emulator).
step('compiling the test fixtures', process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', root], { allowFail: true });

// 2. The cloud to talk to.
const emulatorModule = join(root, 'out/test/fixtures/emulator/index.js');
const hasEnvToken = Boolean(process.env.DIGITALOCEAN_ACCESS_TOKEN || process.env.HCLOUD_TOKEN);
const useEmulator = !values.real && !hasEnvToken && existsSync(emulatorModule);
let settings = {};
let env = {};
if (useEmulator) {
  const { startEmulator } = require(emulatorModule);
  // Real-time triggers: a cloud reaper deployed to the emulator's DigitalOcean Functions runs on its schedule.
  const emulator = await startEmulator({ port: 0, functions: { realTimeTriggers: true } });
  settings = { 'thebacknd.digitalocean.endpoint': emulator.doUrl, 'thebacknd.hetzner.endpoint': emulator.hetznerUrl };
  // Dummy tokens: the emulator accepts any; the extension sees them as set through the environment.
  env = { DIGITALOCEAN_ACCESS_TOKEN: 'emulator-digitalocean-token', HCLOUD_TOKEN: 'emulator-hetzner-token' };
  console.log(`start: local cloud emulator on ${emulator.doUrl} (DigitalOcean) and ${emulator.hetznerUrl} (Hetzner)`);
} else if (!values.real && !hasEnvToken) {
  console.log('start: no token in the environment and no emulator built: set a token in VS Code (Thebacknd: Set Token…).');
}
// Each mode has its own profile, so that emulator endpoints never linger in the profile used with real clouds.
const profile = join(root, '.vscode-test', useEmulator ? 'start-emulator' : 'start');
const folder = resolve(values.folder ?? root);

// 3. VS Code.
if (onPath('code') && !values.browser) {
  if (useEmulator) {
    const userDir = join(profile, 'desktop-user-data', 'User');
    mkdirSync(userDir, { recursive: true });
    const settingsFile = join(userDir, 'settings.json');
    writeFileSync(settingsFile, JSON.stringify({ ...readJson(settingsFile), ...settings }, null, 2));
  }
  console.log('start: opening desktop VS Code with the extension in development mode (close the window to stop).');
  const child = spawn(
    'code',
    [
      '--new-window',
      '--wait',
      `--extensionDevelopmentPath=${root}`,
      ...(useEmulator ? ['--user-data-dir', join(profile, 'desktop-user-data')] : []),
      folder,
    ],
    { stdio: 'inherit', env: { ...process.env, ...env } },
  );
  child.on('exit', (code) => {
    // Some `code` launchers hand over to a running VS Code and return at once: the emulator must outlive them.
    if (useEmulator && code === 0) console.log('start: the local cloud emulator keeps running; Ctrl+C stops it.');
    else process.exit(code ?? 0);
  });
} else {
  const { ensureVscode } = await import('./setup-vscode.mjs');
  try {
    ensureVscode({ browser: false });
  } catch (err) {
    console.error(`start: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  }
  const { startCodeServer } = require(join(root, 'out/test/runners/codeServer.js'));
  const server = await startCodeServer({
    workspace: folder,
    stateDir: join(profile, 'code-server'),
    userEnvironment: true,
    gallery: true,
    settings,
    env,
    ...(values.port ? { port: Number(values.port) } : {}),
  });
  const url = server.workbenchUrl({ extensionDevelopmentPath: root });
  console.log('');
  console.log(`start: VS Code ${useEmulator ? '(against the local cloud emulator) ' : ''}is at`);
  console.log(`  ${url}`);
  console.log('start: open it in a browser on this machine. Ctrl+C stops it.');
  const stop = async () => {
    await server.stop();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
}

function parseArgsOrExit(config) {
  try {
    return parseArgs(config);
  } catch (err) {
    console.error(`start: ${err instanceof Error ? err.message : err}`);
    process.exit(2);
  }
}
