// The secrets scan, run after every other in-editor suite (index.ts orders it last): every token and secret those
// suites handed to the extension (minted fresh and registered: cloud tokens, the cache's secret access key, the
// signing key, the login keys of the machines) must appear nowhere the extension wrote or showed: VS Code's logs
// (the Thebacknd output channel, boot logs, the extension host's own log), its settings and storage, the workspace,
// the requests the clouds received (user-data above all), the Machines tree's items and the machine panels' state.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { assertNoSecrets, dirArtefacts, knownSecrets, type Artefact } from '../fixtures/secrets';
import { thebacknd } from './harness';
import { keptForScan, snapshotSettings, snapshotTree } from './scan';
import { readTestEnv } from './testEnv';

suite('secrets scan (after every other suite)', () => {
  test('no token or secret used appears in logs, settings, storage, user-data sent, tree items or panel state', async function () {
    this.timeout(120_000);
    const env = readTestEnv();
    assert.ok(env.userDataDir, "the runner names VS Code's user data folder");
    const kept = keptForScan();
    assert.ok(kept.length > 0, 'the other suites handed over their artefacts: run this suite with them, not alone');
    await snapshotTree('at the end', (await thebacknd()).machinesTree);
    snapshotSettings('at the end', env.userDataDir);

    const userData = dirArtefacts('VS Code user data', env.userDataDir, { exclude: /\/(CachedData|CachedExtensionVSIXs|CachedProfilesData|extensions)\// });
    const workspace = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const all = [...keptForScan(), ...userData, ...(workspace ? dirArtefacts('workspace', workspace) : [])];

    // The scan must have had the things it claims to cover in hand, or finding nothing proves nothing.
    const some = (what: string, test: (a: Artefact) => boolean, atLeast = 1) => {
      const n = all.filter(test).length;
      assert.ok(n >= atLeast, `the scan covers ${what} (${n} found, ${atLeast} needed)`);
    };
    some("the Thebacknd output channel's log", (a) => /Thebacknd\.log$/.test(a.name) && a.text.includes('activated'));
    some("the extension host's log", (a) => /exthost\.log$/.test(a.name));
    some('the settings files, as the suites had set them', (a) => /^(user|machine) settings\.json/.test(a.name) && a.text.includes('thebacknd.digitalocean.endpoint'));
    // (code-server keeps the workbench's state database in the browser; desktop VS Code's state.vscdb is read here.)
    some("the extension's global storage", (a) => a.name.includes('globalStorage/thebacknd.thebacknd/'));
    some('user-data sent to the clouds', (a) => /emulator #\d+ POST \/v[12]\/(droplets|servers)$/.test(a.name) && a.text.includes('authorizedKeys'));
    some('tree items showing machines', (a) => a.name.startsWith('tree item') && a.text.includes('thebacknd-'), 3);
    some('tree items showing the reapers', (a) => a.name.startsWith('tree item') && a.text.includes('Cloud reaper: last pass'));
    some("a machine panel's state and log", (a) => a.name.startsWith('panel log') && a.text.length > 0);
    some('Thebacknd settings as VS Code resolves them', (a) => a.name.startsWith('setting thebacknd.') && a.text.includes('globalValue'), 3);
    const secrets = knownSecrets();
    for (const kind of ['DigitalOcean token', 'Hetzner token', 'cache secret access key', 'cache signing key', 'login private key', 'destroy-self secret']) {
      assert.ok(
        secrets.some((s) => s.name.startsWith(kind)),
        `the scan looks for a ${kind}`,
      );
    }

    const scanned = assertNoSecrets(all, secrets);
    // Into the suite's log, which the runner prints: the figure shows in `npm test`'s output.
    fs.appendFileSync(
      env.log,
      `    secrets (in the editor): found=0 (${scanned.secrets} secrets, ${scanned.artefacts} artefacts, ${Math.round(scanned.bytes / 1024)} KiB scanned)\n`,
    );
  });
});
