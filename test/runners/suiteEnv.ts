// What a runner (code-server or Electron) prepares around the integration suite, and the contract with the tests
// inside the extension host: the runner writes <workspace>/.thebacknd-test.json, the tests read it through
// test/integration/testEnv.ts, and write their results and log where it says.
//
// Suites that need services (the cloud emulator, an S3 server, an sshd test host…) add test/integration/fixtures.ts:
//   export async function setup(ctx: FixtureContext): Promise<FixtureResult>  // runs in the runner's process
//   export async function teardown(): Promise<void>                           // always runs, even after a failure
// `data` reaches the tests, `settings` the user's settings.json, `env` the extension host's environment.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const testEnvFileName = '.thebacknd-test.json';

export interface TestEnvFile {
  runner: 'code-server' | 'electron';
  /** JSON file the suite writes its counts and failures to (SuiteResults). */
  results: string;
  /** Text file the suite appends its reporter output to; the runner streams it to its stdout. */
  log: string;
  /** Optional mocha --grep for the suite. */
  grep?: string;
  /** Whatever test/integration/fixtures.ts setup() returned as `data`. */
  fixtures: Record<string, unknown>;
  /** VS Code's user data folder (settings, logs, storage), which the secrets scan reads. */
  userDataDir?: string;
}

export interface SuiteResults {
  passed: number;
  failed: number;
  pending: number;
  failures: { title: string; error: string }[];
}

export interface FixtureContext {
  runner: TestEnvFile['runner'];
  /** The folder the workbench opens; fixtures may put files there (a flake, a settings folder…). */
  workspace: string;
  /** A scratch folder removed after the run. */
  tmp: string;
  /** VS Code's user data folder for this run, when known before it starts. */
  userDataDir?: string;
}

export interface FixtureResult {
  data?: Record<string, unknown>;
  settings?: Record<string, unknown>;
  env?: Record<string, string>;
}

interface FixtureModule {
  setup?: (ctx: FixtureContext) => Promise<FixtureResult>;
  teardown?: () => Promise<void>;
}

export interface PreparedSuite {
  settings: Record<string, unknown>;
  env: Record<string, string>;
  resultsFile: string;
  logFile: string;
  teardown(): Promise<void>;
}

/** Compiled location of the optional fixtures module. */
export const fixturesModule = path.resolve(__dirname, '..', 'integration', 'fixtures.js');

export async function prepareSuite(ctx: FixtureContext & { grep?: string }): Promise<PreparedSuite> {
  const mod: FixtureModule = fs.existsSync(fixturesModule) ? (require(fixturesModule) as FixtureModule) : {};
  const teardown = async () => {
    await mod.teardown?.();
  };
  let result: FixtureResult = {};
  try {
    result = (await mod.setup?.(ctx)) ?? {};
  } catch (err) {
    await teardown().catch(() => undefined);
    throw new Error(`test/integration/fixtures.ts setup() failed: ${err instanceof Error ? err.stack : String(err)}`);
  }
  const resultsFile = path.join(ctx.tmp, 'integration-results.json');
  const logFile = path.join(ctx.tmp, 'integration.log');
  fs.writeFileSync(logFile, '');
  const file: TestEnvFile = {
    runner: ctx.runner,
    results: resultsFile,
    log: logFile,
    ...(ctx.grep ? { grep: ctx.grep } : {}),
    fixtures: result.data ?? {},
    ...(ctx.userDataDir ? { userDataDir: ctx.userDataDir } : {}),
  };
  fs.writeFileSync(path.join(ctx.workspace, testEnvFileName), JSON.stringify(file, null, 2));
  return { settings: result.settings ?? {}, env: result.env ?? {}, resultsFile, logFile, teardown };
}

export function readResults(file: string): SuiteResults | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as SuiteResults;
  } catch {
    return undefined;
  }
}

/** Copies what the suite appends to its log file to our stdout as it comes; stop() flushes the rest. */
export function streamLog(file: string, out: NodeJS.WritableStream = process.stdout): { stop(): void } {
  let offset = 0;
  const pump = () => {
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, 'r');
      const size = fs.fstatSync(fd).size;
      if (size > offset) {
        const buf = Buffer.alloc(size - offset);
        fs.readSync(fd, buf, 0, buf.length, offset);
        offset = size;
        out.write(buf);
      }
    } catch {
      // not there yet
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  };
  const timer = setInterval(pump, 200);
  return {
    stop() {
      clearInterval(timer);
      pump();
    },
  };
}
