// Runs the integration suite (out/test/integration/index.js) inside the real VS Code extension host of code-server,
// with the extension loaded in development mode, driven by headless Chromium through the workbench URL payload.
// The suite's exit code becomes ours; a run that never reports back fails at the timeout with the logs that help.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { launchBrowser, newLoopbackPage } from './browser';
import { repoRoot, startCodeServer, type CodeServer } from './codeServer';
import { prepareSuite, readResults, streamLog, type SuiteResults } from './suiteEnv';

export interface IntegrationOptions {
  extensionPath?: string;
  testsPath?: string;
  timeoutMs?: number;
  grep?: string;
  /** Print the workbench's console (extension host messages, errors) as it comes. */
  verbose?: boolean;
}

export interface IntegrationOutcome {
  exitCode: number;
  results?: SuiteResults;
  seconds: number;
}

export async function runIntegration(opts: IntegrationOptions = {}): Promise<IntegrationOutcome> {
  const started = Date.now();
  const extensionPath = path.resolve(opts.extensionPath ?? repoRoot);
  const testsPath = path.resolve(opts.testsPath ?? path.join(repoRoot, 'out/test/integration/index.js'));
  const manifest = JSON.parse(fs.readFileSync(path.join(extensionPath, 'package.json'), 'utf8')) as { main?: string };
  if (manifest.main && !fs.existsSync(path.resolve(extensionPath, manifest.main))) {
    throw new Error(`${manifest.main} is missing: build the extension first (npm run build).`);
  }
  if (!fs.existsSync(testsPath)) throw new Error(`${testsPath} is missing: compile the tests first (npx tsc -p ./).`);
  const timeoutMs = opts.timeoutMs ?? 15 * 60_000;

  // The workspace and scratch folders live outside the server's root so fixtures can be set up before it starts.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-integration-'));
  const workspace = path.join(scratch, 'workspace');
  const tmp = path.join(scratch, 'tmp');
  fs.mkdirSync(workspace);
  fs.mkdirSync(tmp);

  let server: CodeServer | undefined;
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  // VS Code's state lives in the scratch folder too, so the suite knows where its user data (logs, settings) is.
  const stateDir = path.join(scratch, 'vscode');
  const userDataDir = path.join(stateDir, 'user-data');
  const suite = await prepareSuite({ runner: 'code-server', workspace, tmp, userDataDir, ...(opts.grep ? { grep: opts.grep } : {}) });
  const log = streamLog(suite.logFile);
  const consoleLines: string[] = [];
  try {
    server = await startCodeServer({ workspace, stateDir, settings: suite.settings, env: suite.env });
    if (server.userDataDir !== userDataDir) throw new Error(`code-server keeps its user data in ${server.userDataDir}, not ${userDataDir}`);
    browser = await launchBrowser();
    const page = await newLoopbackPage(browser);
    page.on('console', (msg) => {
      const line = `[${msg.type()}] ${msg.text()}`;
      consoleLines.push(line);
      if (opts.verbose) process.stderr.write(`${line}\n`);
    });
    page.on('pageerror', (err) => consoleLines.push(`[pageerror] ${err.message}`));

    let onExit: (code: number) => void = () => undefined;
    const exited = new Promise<number>((resolve) => (onExit = resolve));
    await page.exposeFunction('codeAutomationExit', (code: number) => onExit(code));
    await page.exposeFunction('codeAutomationLog', (level: string, message: string) => {
      consoleLines.push(`[workbench ${level}] ${message}`);
      if (opts.verbose) process.stderr.write(`[workbench ${level}] ${message}\n`);
    });
    await page.goto(server.workbenchUrl({ extensionDevelopmentPath: extensionPath, extensionTestsPath: testsPath }));

    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const code = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    log.stop();
    const results = readResults(suite.resultsFile);
    if (code === 'timeout') {
      console.error(
        `integration: no result from the extension host within ${Math.round(timeoutMs / 1000)} s.\n` +
          `Workbench console (last lines):\n${consoleLines.slice(-40).join('\n')}\n` +
          `code-server log (last lines):\n${server.logTail(30)}`,
      );
      return { exitCode: 1, ...(results ? { results } : {}), seconds: (Date.now() - started) / 1000 };
    }
    if (code !== 0 && !results) {
      // The suite never ran (extension host crash, a test file that does not load…): show why.
      console.error(`integration: the extension host exited with ${code} before reporting results.\n` + `Workbench console (last lines):\n${consoleLines.slice(-40).join('\n')}`);
    }
    return { exitCode: code, ...(results ? { results } : {}), seconds: (Date.now() - started) / 1000 };
  } finally {
    log.stop();
    await browser?.close().catch(() => undefined);
    await server?.stop();
    await suite.teardown().catch((err: unknown) => console.error(`integration: fixtures teardown failed: ${String(err)}`));
    if (process.env.THEBACKND_KEEP_TMP !== '1') fs.rmSync(scratch, { recursive: true, force: true });
  }
}
