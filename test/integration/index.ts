// The entry the VS Code extension host loads as extensionTestsPath (code-server runner and @vscode/test-electron):
// runs every out/test/integration/**/*.test.js with mocha, in this extension host, next to the real extension.
// Reporter output goes to the log file the runner streams to its stdout; counts and failures go to the results
// file. Rejecting makes the workbench exit with 1.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import Mocha from 'mocha';
import type { SuiteResults } from '../runners/suiteEnv';
import { readTestEnv } from './testEnv';

/** The secrets scan reads what the other suites left behind, so it runs last. */
const LAST = 'secrets.test.js';

function testFiles(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.test.js'))
    .sort((a, b) => Number(a === LAST) - Number(b === LAST) || a.localeCompare(b))
    .map((f) => path.join(dir, f));
}

export async function run(): Promise<void> {
  const env = readTestEnv();
  const write = (text: string) => fs.appendFileSync(env.log, text);

  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: 'spec' });
  Mocha.interfaces.tdd(mocha.suite); // suite()/test() as well as describe()/it(); one style per file
  if (env.grep) mocha.grep(env.grep);
  // Only to the file: desktop VS Code also echoes the extension host's console, which would print it twice.
  const consoleLog = Mocha.reporters.Base.consoleLog;
  Mocha.reporters.Base.consoleLog = (...args: unknown[]) => write(`${util.format(...args)}\n`);

  const files = testFiles(__dirname);
  for (const file of files) mocha.addFile(file);

  const results: SuiteResults = { passed: 0, failed: 0, pending: 0, failures: [] };
  try {
    await mocha.loadFilesAsync();
    await new Promise<void>((resolve) => {
      const runner = mocha.run(() => resolve());
      runner.on('pass', () => results.passed++);
      runner.on('pending', () => results.pending++);
      runner.on('fail', (test, err: unknown) => {
        results.failed++;
        results.failures.push({ title: test.fullTitle(), error: err instanceof Error ? err.message : String(err) });
      });
    });
  } catch (err) {
    // A test file that does not load is a failure, not a silent zero.
    results.failed++;
    results.failures.push({ title: 'loading the test files', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    write(`Could not load the integration tests: ${results.failures.at(-1)?.error}\n`);
  } finally {
    Mocha.reporters.Base.consoleLog = consoleLog;
    fs.writeFileSync(env.results, JSON.stringify(results, null, 2));
  }
  if (results.failed > 0) throw new Error(`${results.failed} integration test(s) failed.`);
  if (results.passed === 0) throw new Error(`No integration test ran (files: ${files.length}).`);
}
