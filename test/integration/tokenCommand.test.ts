// The token command settings (thebacknd.<provider>.tokenCommand, issue #17) in the real extension inside real
// VS Code, against the cloud emulator. No token is in secret storage or the environment: the machines the tree
// lists were fetched with the token a command printed (a password manager's stand-in, `cat` of a 0600 file). A
// failing command's row names no output; a repository's settings cannot name a command. The tokens and the failing
// command's output are registered with the secrets scan that ends the suite (logs, settings, tree items).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { mintSecret } from '../fixtures/secrets';
import { hetznerLabels, newRunId } from '../../src/providers/tags';
import type { Node } from '../../src/views/machinesTree';
import { startCloud, thebacknd, waitFor, type Cloud } from './harness';
import { snapshotTree } from './scan';

suite('token command settings (emulator)', function () {
  this.timeout(120_000);
  let cloud: Cloud;
  let dir: string;
  let tree: Awaited<ReturnType<typeof thebacknd>>['machinesTree'];
  const config = () => vscode.workspace.getConfiguration('thebacknd');

  /** Labels of the rows under one provider, as VS Code gets them. */
  const rowsOf = (label: string): vscode.TreeItem[] => {
    const provider = (tree.getChildren() as Node[]).find((p) => tree.getTreeItem(p).label === label);
    return provider ? (tree.getChildren(provider) as Node[]).map((n) => tree.getTreeItem(n)) : [];
  };
  const providerItem = (label: string) => (tree.getChildren() as Node[]).map((p) => tree.getTreeItem(p)).find((i) => i.label === label);

  suiteSetup(async () => {
    tree = (await thebacknd()).machinesTree;
    // No provider token in the environment: only the commands can give one.
    cloud = await startCloud({ suite: 'token command suite', providers: [] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-tokencmd-it-'));
  });

  suiteTeardown(async () => {
    await cloud?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const secretFile = (name: string, value: string): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, `${value}\n`, { mode: 0o600 });
    return f;
  };

  test("a repository's settings cannot name a token command: it never runs", async () => {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    assert.ok(folder, 'the runner opens a folder');
    const file = path.join(folder, '.vscode', 'settings.json');
    const had = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    const ran = path.join(dir, 'workspace-command-ran');
    const command = `touch ${ran}; cat ${secretFile('workspace-token', cloud.tokens.hetzner)}`;
    const marker = (config().get<number>('maxAgeMinutes') ?? 60) + 9;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, JSON.stringify({ 'thebacknd.hetzner.tokenCommand': command, 'thebacknd.digitalocean.tokenCommand': command, 'thebacknd.maxAgeMinutes': marker }));
      await waitFor('the workspace settings file to be read', () => config().get<number>('maxAgeMinutes') === marker);
      assert.equal(config().get<string>('hetzner.tokenCommand'), '', 'the workspace value is ignored');
      await vscode.commands.executeCommand('thebacknd.refresh');
      assert.equal(fs.existsSync(ran), false, 'the command named by the workspace did not run');
    } finally {
      if (had === undefined) fs.rmSync(file, { force: true });
      else fs.writeFileSync(file, had);
      await waitFor('the workspace setting to be gone', () => config().get<number>('maxAgeMinutes') !== marker);
    }
  });

  test('the machine list is fetched with the token the Hetzner token command prints', async () => {
    const name = `thebacknd-tokencmd-${newRunId().slice(-6)}`;
    cloud.emu.addServer({ name, labels: hetznerLabels(newRunId(), new Date(Date.now() + 30 * 60_000)) });
    await cloud.set('hetzner.tokenCommand', `cat ${secretFile('hetzner-token', cloud.tokens.hetzner)}`);
    await vscode.commands.executeCommand('thebacknd.refresh');
    await waitFor('the server in the tree under Hetzner', () => rowsOf('Hetzner').some((r) => r.label === name));
    assert.match(String(providerItem('Hetzner')?.description), /· 1 machine · token from command$/);
    // The emulator answered the list only once a token came: the command's.
    assert.ok(
      cloud.emu.requests.some((r) => r.method === 'GET' && r.path === '/v1/servers' && r.status === 200),
      'a list answered',
    );
    await snapshotTree('a token from a command', tree);
  });

  test('a failing token command: its row says so and how to see why, naming none of its output', async () => {
    const leaked = mintSecret('output of a failing token command (token command suite)', 'dop_v1_');
    await cloud.set('digitalocean.tokenCommand', `echo ${leaked}; echo "wrong passphrase for ${leaked}" >&2; exit 4`);
    await vscode.commands.executeCommand('thebacknd.refresh');
    const row = await waitFor("the failed command's row under DigitalOcean", () => rowsOf('DigitalOcean').find((r) => r.label === 'DigitalOcean token command failed'));
    assert.equal(
      row.tooltip,
      'The DigitalOcean token command failed (exit status 4); its output is not shown. Run it in a terminal to see why (setting thebacknd.digitalocean.tokenCommand).',
    );
    assert.equal(row.command?.command, 'thebacknd.refresh', 'a click runs it again');
    await snapshotTree('a failing token command', tree);
    // Fixed in the password manager: Refresh runs it again and the provider lists.
    await cloud.set('digitalocean.tokenCommand', `cat ${secretFile('digitalocean-token', cloud.tokens.digitalocean)}`);
    await vscode.commands.executeCommand('thebacknd.refresh');
    await waitFor('DigitalOcean to list with the new command', () => rowsOf('DigitalOcean').some((r) => r.label === 'No machines'));
    assert.match(String(providerItem('DigitalOcean')?.description), /token from command$/);
  });
});
