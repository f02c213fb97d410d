// Shared by the browser tests: one code-server + one headless Chromium on the VS Code workbench, with the repo's
// extension in development mode (or a .vsix installed), the cloud emulator behind it when asked, and helpers for
// what a person does: click the activity bar, run a palette command, read notifications, take screenshots.
// Start one per test file (before/after) and reuse it across that file's tests: a start costs several seconds.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchBrowser, newLoopbackPage } from '../runners/browser';
import { codeServerEntry, repoRoot, startCodeServer, type CodeServer, type CodeServerOptions } from '../runners/codeServer';

export const resultsDir = path.join(repoRoot, 'test-results');

export interface WorkbenchOptions extends CodeServerOptions {
  /** Load the repo's extension in development mode (default). False when it comes from `vsix` instead. */
  devExtension?: boolean;
  /**
   * Start the local cloud emulator (test/fixtures/emulator) and point the extension's endpoints at it. Without it
   * the endpoints point at a closed loopback port, so that nothing a test does can reach a real cloud.
   */
  emulator?: boolean;
  /** How long to wait for the workbench and the Thebacknd activity-bar entry; default 60 s. */
  readyTimeoutMs?: number;
}

interface EmulatorHandle {
  doUrl: string;
  hetznerUrl: string;
  close(): Promise<void>;
}

export interface Workbench {
  server: CodeServer;
  browser: Browser;
  page: Page;
  emulator?: EmulatorHandle;
  /** Every message the page logged (the workbench's console, including the extension host's). */
  console: string[];
  /** Clicks the Thebacknd activity-bar entry and returns the sidebar. */
  openThebacknd(): Promise<Locator>;
  /** Opens the command palette, picks the command with exactly this label ("Thebacknd: Refresh") and runs it. */
  runCommand(label: string): Promise<void>;
  /** The visible notification toasts whose message contains `text`. */
  notification(text: string | RegExp): Locator;
  /** The quick input (palette, quick pick, input box). */
  quickInput: Locator;
  /** Saves test-results/<name>.png and returns its path. */
  screenshot(name: string): Promise<string>;
  /**
   * Runs one test's steps; when they throw, saves test-results/failed-<name>.png and adds the workbench console's
   * last lines to the error, so a failure on CI can be understood from its log.
   */
  step<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** The extension host's log lines so far (activation, errors). */
  extensionHostLog(): string;
  /** Waits until VS Code has activated the extension; throws with VS Code's own message if activation failed. */
  activated(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const emulatorModule = path.join(repoRoot, 'out/test/fixtures/emulator/index.js');

async function startEmulator(): Promise<EmulatorHandle> {
  if (!fs.existsSync(emulatorModule)) throw new Error(`${emulatorModule} is missing: compile with npx tsc -p ./.`);
  const mod = require(emulatorModule) as { startEmulator(o: { port?: number }): Promise<EmulatorHandle> };
  return mod.startEmulator({ port: 0 });
}

/** The text of every file under the server's logs folder whose path `wanted` accepts, joined. */
function readLogs(userDataDir: string, wanted: (file: string, name: string) => boolean): string {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (wanted(p, e.name)) out.push(fs.readFileSync(p, 'utf8'));
    }
  };
  const logs = path.join(userDataDir, 'logs');
  if (fs.existsSync(logs)) walk(logs);
  return out.join('\n');
}

/** Every log file whose name mentions the extension host. */
const readExtensionHostLogs = (userDataDir: string): string => readLogs(userDataDir, (_p, name) => /exthost/i.test(name) && name.endsWith('.log'));

/** The extension's Output channel, as VS Code writes it to the logs folder. */
const readThebackndLogs = (userDataDir: string): string => readLogs(userDataDir, (p, name) => /thebacknd/i.test(p) && name === 'Thebacknd.log');

/** `npm run test:e2e` on a fresh clone: install code-server first (test files run one at a time). */
function ensureCodeServer(): void {
  if (fs.existsSync(codeServerEntry)) return;
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/setup-vscode.mjs')], { stdio: ['ignore', 2, 2] });
  if (r.status !== 0) throw new Error('Could not install code-server (npm run setup:vscode); see the lines above.');
}

export async function openWorkbench(opts: WorkbenchOptions = {}): Promise<Workbench> {
  ensureCodeServer();
  const { devExtension = true, emulator: wantEmulator = false, readyTimeoutMs = 60_000, ...serverOpts } = opts;
  let emulator: EmulatorHandle | undefined;
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  try {
    emulator = wantEmulator ? await startEmulator() : undefined;
    const endpoints = emulator
      ? { 'thebacknd.digitalocean.endpoint': emulator.doUrl, 'thebacknd.hetzner.endpoint': emulator.hetznerUrl }
      : { 'thebacknd.digitalocean.endpoint': 'http://127.0.0.1:9/v2', 'thebacknd.hetzner.endpoint': 'http://127.0.0.1:9/v1' };
    server = await startCodeServer({ ...serverOpts, settings: { ...endpoints, ...serverOpts.settings } });
    browser = await launchBrowser();
    const page = await newLoopbackPage(browser);
    page.setDefaultTimeout(20_000);
    const consoleLines: string[] = [];
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    await page.goto(server.workbenchUrl(devExtension ? { extensionDevelopmentPath: repoRoot } : {}));
    const icon = page.locator('.activitybar a.action-label[aria-label="Thebacknd"]');
    await icon.waitFor({ state: 'visible', timeout: readyTimeoutMs });

    const quickInput = page.locator('.quick-input-widget');
    const s = server;
    const b = browser;
    const e = emulator;
    const wb: Workbench = {
      server: s,
      browser: b,
      page,
      ...(e ? { emulator: e } : {}),
      console: consoleLines,
      quickInput,
      async openThebacknd() {
        const sidebar = page.locator('.part.sidebar');
        // A second click on the active entry would close the sidebar.
        if (!(await icon.locator('xpath=..').getAttribute('class'))?.includes('checked')) await icon.click();
        await sidebar.waitFor({ state: 'visible' });
        await page.mouse.move(700, 400); // away from the icon: no tooltip in screenshots
        return sidebar;
      },
      async runCommand(label: string) {
        await page.keyboard.press('F1');
        const input = quickInput.locator('input.input');
        await input.waitFor({ state: 'visible' });
        await input.fill(`>${label}`);
        // A row's accessible name is its label, sometimes followed by ", <keybinding or 'recently used'>".
        const name = new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(,|$)`);
        const row = quickInput.getByRole('option', { name });
        await row.waitFor({ state: 'visible' });
        await row.click();
      },
      notification: (text) => page.locator('.notifications-toasts .notification-list-item-message', { hasText: text }),
      async screenshot(name: string) {
        fs.mkdirSync(resultsDir, { recursive: true });
        const file = path.join(resultsDir, `${name}.png`);
        await page.screenshot({ path: file });
        return file;
      },
      async step(name, fn) {
        try {
          return await fn();
        } catch (err) {
          const shot = await wb.screenshot(`failed-${name}`).catch(() => 'none');
          const lines = consoleLines
            .filter((l) => !l.startsWith('[debug]'))
            .slice(-15)
            .join('\n');
          // The extension's own Output channel says why a view shows an error (a failed listing's reason, say).
          const ours = readThebackndLogs(s.userDataDir).trim().split('\n').slice(-15).join('\n');
          if (err instanceof Error) err.message += `\nscreenshot: ${shot}\nworkbench console (last lines):\n${lines}\nThebacknd output (last lines):\n${ours}`;
          throw err;
        }
      },
      extensionHostLog: () => readExtensionHostLogs(s.userDataDir),
      async activated(timeoutMs = 30_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const log = readExtensionHostLogs(s.userDataDir);
          const failed = /Activating extension thebacknd\.thebacknd failed[^\n]*\n[^\n]*/.exec(log);
          if (failed) throw new Error(`VS Code could not activate the extension:\n${failed[0]}`);
          // Either outcome is awaited: the failure in the extension host's log, or the extension's own last words
          // of activate() in its Output channel (whatever the time between the attempt and its end).
          if (/_doActivateExtension thebacknd\.thebacknd\b/.test(log) && /\bThebacknd \S+ activated\./.test(readThebackndLogs(s.userDataDir))) return;
          if (Date.now() > deadline) throw new Error(`VS Code did not activate the extension within ${timeoutMs / 1000} s.`);
          await page.waitForTimeout(200);
        }
      },
      async close() {
        await b.close().catch(() => undefined);
        await s.stop();
        await e?.close();
      },
    };
    return wb;
  } catch (err) {
    await browser?.close().catch(() => undefined);
    const detail = server ? `\ncode-server log:\n${server.logTail(20)}` : '';
    await server?.stop();
    await emulator?.close();
    throw new Error(`Could not open the workbench: ${err instanceof Error ? err.message : String(err)}${detail}`);
  }
}
