// `npm run test:electron`: the same integration suite in desktop VS Code through @vscode/test-electron, for machines
// that can download VS Code (it cannot here: no internet). Defaults to VS Code 1.100.3, the oldest the extension
// supports; `--vscode stable` (or THEBACKND_VSCODE_VERSION) picks another, and THEBACKND_VSCODE_EXECUTABLE uses an
// installed VS Code instead of a download. Needs a display (xvfb-run on a server).
// Expects `npx tsc -p ./` and `npm run build` to have run.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { runTests, TestRunFailedError } from '@vscode/test-electron';
import { quietSettings, repoRoot } from './codeServer';
import { prepareSuite, readResults, streamLog } from './suiteEnv';

const strippedEnv = ['DIGITALOCEAN_ACCESS_TOKEN', 'DIGITALOCEAN_TOKEN', 'HCLOUD_TOKEN'];

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { vscode: { type: 'string' }, grep: { type: 'string' } } });
  const version = values.vscode ?? process.env.THEBACKND_VSCODE_VERSION ?? '1.100.3';
  const testsPath = path.join(repoRoot, 'out/test/integration/index.js');
  if (!fs.existsSync(testsPath)) throw new Error('out/test/integration/index.js is missing: run `npx tsc -p ./` first.');

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-electron-'));
  const dir = (name: string) => {
    const p = path.join(scratch, name);
    fs.mkdirSync(p, { recursive: true });
    return p;
  };
  const workspace = dir('workspace');
  const userDataDir = dir('user-data');
  const extensionsDir = dir('extensions');
  const suite = await prepareSuite({ runner: 'electron', workspace, tmp: dir('tmp'), userDataDir, ...(values.grep ? { grep: values.grep } : {}) });
  const log = streamLog(suite.logFile);
  try {
    fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
    fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify({ ...quietSettings, ...suite.settings }, null, 2));
    // VS Code inherits our environment: never a real cloud token from the developer's shell.
    for (const name of strippedEnv) delete process.env[name];
    let code: number;
    try {
      const executable = process.env.THEBACKND_VSCODE_EXECUTABLE;
      code = await runTests({
        ...(executable ? { vscodeExecutablePath: executable } : { version }),
        extensionDevelopmentPath: repoRoot,
        extensionTestsPath: testsPath,
        extensionTestsEnv: suite.env,
        launchArgs: [
          workspace,
          '--user-data-dir',
          userDataDir,
          '--extensions-dir',
          extensionsDir,
          '--disable-workspace-trust',
          '--skip-welcome',
          '--skip-release-notes',
          '--disable-gpu',
        ],
      });
    } catch (err) {
      if (!(err instanceof TestRunFailedError)) throw err;
      code = err.code ?? 1;
    }
    log.stop();
    const r = readResults(suite.resultsFile);
    console.log(`integration (electron, VS Code ${version}): ${r ? `${r.passed} passed, ${r.failed} failed` : 'no results'}`);
    return code === 0 && r && r.failed === 0 && r.passed > 0 ? 0 : 1;
  } finally {
    log.stop();
    await suite.teardown().catch((err: unknown) => console.error(`fixtures teardown failed: ${String(err)}`));
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`test:electron: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
