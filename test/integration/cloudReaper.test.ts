// The Machines view's reaper rows in the real extension inside real VS Code, against the emulator's DigitalOcean
// Functions: with nothing deployed each provider shows the warning row that opens Deploy Cloud Reaper…; after that
// command (the real deploy, to the emulator) and a scheduled pass, "Cloud reaper: last pass …". The rows go to the
// secrets scan, with the destroy-self secret the deploy created registered.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Emulator } from '../fixtures/emulator';
import { artefact, assertNoSecrets, DEPLOYED_PARAMETERS, dirArtefacts, emulatorArtefacts, functionsArtefacts, registerFunctionsSecrets, registerSecret } from '../fixtures/secrets';
import { TOKEN_ENV } from '../../src/base/tokens';
import type { ThebackndApi } from '../../src/extension';
import type { Node, ReaperNode } from '../../src/views/machinesTree';
import { startCloud, thebacknd, waitFor, type Cloud } from './harness';
import { keepForScan, snapshotTree } from './scan';

const SUITE = 'cloud reaper suite';
/** Where tokens and the secret are sent on purpose: the actions' bound parameters, and the owner reading them back. */
const ACTION_BODIES = DEPLOYED_PARAMETERS;

suite('cloud reaper rows (emulator)', function () {
  this.timeout(180_000);
  let cloud: Cloud;
  let emu: Emulator;
  let tree: ThebackndApi['machinesTree'];

  function reaperRows(): { provider: string; item: vscode.TreeItem }[] {
    return (tree.getChildren() as Node[]).flatMap((p) =>
      (tree.getChildren(p) as Node[]).filter((c): c is ReaperNode => c.kind === 'reaper').map((c) => ({ provider: c.provider, item: tree.getTreeItem(c) })),
    );
  }

  suiteSetup(async () => {
    tree = (await thebacknd()).machinesTree;
    cloud = await startCloud({ suite: SUITE, emulator: { delays: { doActiveMs: 0, deleteMs: 0, actionMs: 0 } } });
    emu = cloud.emu;
    registerSecret({ name: `DigitalOcean token (${SUITE})`, value: cloud.tokens.digitalocean, allowedIn: ACTION_BODIES });
    registerSecret({ name: `Hetzner token (${SUITE})`, value: cloud.tokens.hetzner, allowedIn: ACTION_BODIES });
  });

  suiteTeardown(async () => {
    await cloud?.close();
  });

  test('with no reaper deployed, each provider shows a warning row that opens Deploy Cloud Reaper…', async () => {
    await vscode.commands.executeCommand('thebacknd.refresh');
    const rows = await waitFor('a reaper row under each provider', () => {
      const r = reaperRows();
      return r.length === 2 && r.every((x) => x.item.label === 'No reaper while VS Code is closed') ? r : undefined;
    });
    for (const { item } of rows) {
      assert.equal(item.contextValue, 'reaper:none');
      assert.equal(item.command?.command, 'thebacknd.deployCloudReaper');
      assert.equal((item.iconPath as vscode.ThemeIcon).id, 'warning');
      assert.match((item.tooltip as vscode.MarkdownString).value, /nothing destroys this provider's machines/);
    }
    await snapshotTree('no cloud reaper', tree);
  });

  test('Deploy Cloud Reaper… deploys to the emulator; after a scheduled pass the rows say "Cloud reaper: last pass …"', async () => {
    await vscode.commands.executeCommand('thebacknd.deployCloudReaper', { confirm: false });
    const ns = [...emu.functions.namespaces.values()].find((n) => n.label === 'thebacknd');
    assert.ok(ns, 'the command created the namespace');
    assert.deepEqual([...ns.triggers.keys()], ['thebacknd-destroy-old']);
    const secret = ns.actions.get('thebacknd/destroy-self')?.parameters.find((p) => p.key === 'secret')?.value;
    assert.ok(typeof secret === 'string' && secret.length >= 32, 'destroy-self holds a secret');
    registerSecret({ name: `destroy-self secret (${SUITE})`, value: secret, allowedIn: ACTION_BODIES });
    registerFunctionsSecrets(emu);

    await waitFor('the rows to show the deployed reaper', () => {
      const r = reaperRows();
      return (r.length === 2 && r.every((x) => x.item.label === 'Cloud reaper: no pass yet')) || undefined;
    });

    const fired = await emu.functions.advanceClock(20 * 60_000);
    assert.ok(
      fired.some((a) => a.name === 'destroy-old' && a.cause === 'trigger:thebacknd-destroy-old'),
      'the schedule ran destroy-old',
    );
    // The status is cached for a reaper period: Refresh is how a person asks for it sooner.
    await vscode.commands.executeCommand('thebacknd.refresh');
    const rows = await waitFor('"last pass" rows', () => {
      const r = reaperRows();
      return r.length === 2 && r.every((x) => /^Cloud reaper: last pass (just now|\d+ min ago)$/.test(String(x.item.label))) ? r : undefined;
    });
    for (const { item } of rows) {
      assert.equal(item.contextValue, 'reaper:cloud');
      assert.equal(item.description, 'every 20 min');
      assert.equal(item.command, undefined);
      assert.equal((item.iconPath as vscode.ThemeIcon).id, 'pass');
      assert.match((item.tooltip as vscode.MarkdownString).value, /destroy\\-old (just now|\d+ min ago): nothing to destroy/);
    }
    await snapshotTree('cloud reaper deployed', tree);
    // Here already (the suite at the end scans it all again): the rows, and everything the clouds received and
    // answered (activation results too) hold no token and no secret outside the actions' own parameters.
    assertNoSecrets([
      ...rows.map((r) => artefact(`reaper row ${r.provider}`, { ...r.item, tooltip: (r.item.tooltip as vscode.MarkdownString).value })),
      ...emulatorArtefacts(emu, `${SUITE} emulator`),
      ...functionsArtefacts(emu, `${SUITE} activation`),
    ]);
    assert.ok(
      emulatorArtefacts(emu, `${SUITE} emulator`).some((a) => ACTION_BODIES.some((re) => re.test(a.name))),
      "the scan saw the deploy's requests",
    );
    keepForScan(functionsArtefacts(emu, `${SUITE} activation`));
  });

  test('Hetzner only: the warning row offers the local timer; Install Local Reaper Timer… installs it and the row says so', async () => {
    // A home of its own, no user systemd bus, and `thebacknd` on PATH (the built CLI).
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-local-reaper-'));
    const bin = path.join(home, 'bin');
    fs.mkdirSync(bin);
    fs.mkdirSync(path.join(home, 'run'), { mode: 0o700 });
    const cliJs = path.resolve(__dirname, '../../../dist/cli.js');
    assert.ok(fs.existsSync(cliJs), 'npm run build made dist/cli.js');
    fs.writeFileSync(path.join(bin, 'thebacknd'), `#!/bin/sh\nexec node '${cliJs}' "$@"\n`, { mode: 0o755 });
    cloud.setEnv('PATH', `${bin}${path.delimiter}${process.env.PATH ?? ''}`);
    cloud.setEnv('XDG_CONFIG_HOME', path.join(home, 'config'));
    cloud.setEnv('XDG_RUNTIME_DIR', path.join(home, 'run'));
    cloud.setEnv('DBUS_SESSION_BUS_ADDRESS', `unix:path=${path.join(home, 'run', 'no-bus')}`);
    cloud.setEnv(TOKEN_ENV.digitalocean, '');
    try {
      await vscode.commands.executeCommand('thebacknd.refresh');
      const offer = await waitFor('the Hetzner row to offer the local timer', () => {
        const r = reaperRows();
        return r.length === 1 && r[0]!.provider === 'hetzner' && r[0]!.item.command?.command === 'thebacknd.installLocalReaper' ? r[0]! : undefined;
      });
      assert.equal(offer.item.label, 'No reaper while VS Code is closed');
      assert.deepEqual(offer.item.command?.arguments, ['hetzner']);

      await vscode.commands.executeCommand('thebacknd.installLocalReaper', 'hetzner', { confirm: false });
      const tokenFile = path.join(home, 'config', 'thebacknd', 'vscode-hetzner.token');
      assert.equal(fs.statSync(tokenFile).mode & 0o777, 0o600);
      assert.equal(fs.readFileSync(tokenFile, 'utf8').trim(), cloud.tokens.hetzner);
      const service = fs.readFileSync(path.join(home, 'config', 'systemd', 'user', 'thebacknd-reaper-hetzner.service'), 'utf8');
      assert.ok(service.includes(`"--token-file" "${tokenFile}"`) && service.includes(cliJs), service);
      const row = await waitFor('the local timer row', () => reaperRows().find((r) => r.item.label === 'Local reaper timer: every 20 min'));
      assert.equal(row.item.contextValue, 'reaper:local');
      assertNoSecrets([
        artefact('local timer row', { ...row.item, tooltip: (row.item.tooltip as vscode.MarkdownString).value }),
        ...dirArtefacts('systemd units', path.join(home, 'config', 'systemd')),
      ]);
      await snapshotTree('local reaper timer', tree);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
