// The real extension in the real extension host: it activates on its own, every command the manifest declares has a
// handler, and the activity-bar container and the machines view exist.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { waitFor } from '../fixtures/wait';
import { readTestEnv } from './testEnv';

interface Manifest {
  publisher: string;
  name: string;
  contributes: {
    commands?: { command: string }[];
    viewsContainers?: { activitybar?: { id: string }[] };
    views?: Record<string, { id: string }[]>;
  };
}

const extensionId = 'thebacknd.thebacknd';

suite('activation', () => {
  let extension: vscode.Extension<unknown>;
  let manifest: Manifest;

  suiteSetup(() => {
    const found = vscode.extensions.getExtension(extensionId);
    assert.ok(found, `${extensionId} is not loaded in this VS Code`);
    extension = found;
    manifest = extension.packageJSON as Manifest;
  });

  test('the runner prepared this run (workspace and settings)', () => {
    const env = readTestEnv();
    assert.ok(['code-server', 'electron'].includes(env.runner));
    // A user setting the runner presets: proves settings.json reaches this VS Code.
    assert.equal(vscode.workspace.getConfiguration('workbench').get('startupEditor'), 'none');
  });

  test('activates on startup without being asked, without an error', async () => {
    // onStartupFinished: VS Code activates it by itself. isActive also turns true when activate() threw, and
    // activate() then rejects with that error: awaiting it is what proves activation succeeded.
    await waitFor('VS Code to activate the extension', () => (extension.isActive ? true : undefined));
    await extension.activate();
  });

  test('every declared command has a registered handler', async () => {
    const declared = (manifest.contributes.commands ?? []).map((c) => c.command);
    assert.ok(declared.length > 0, 'package.json declares no command');
    await extension.activate();
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = declared.filter((id) => !registered.has(id));
    assert.deepEqual(missing, [], `declared in package.json but not registered: ${missing.join(', ')}`);
  });

  test('the Thebacknd activity-bar container and the machines view exist', async () => {
    const containers = manifest.contributes.viewsContainers?.activitybar ?? [];
    assert.ok(
      containers.some((c) => c.id === 'thebacknd'),
      'no activity-bar container "thebacknd" in package.json',
    );
    assert.ok(
      (manifest.contributes.views?.thebacknd ?? []).some((v) => v.id === 'thebacknd.machines'),
      'no view thebacknd.machines in the container',
    );
    const registered = new Set(await vscode.commands.getCommands(true));
    // VS Code registers these only for containers and views it actually created from the manifest.
    assert.ok(registered.has('workbench.view.extension.thebacknd'), 'VS Code did not create the Thebacknd container');
    assert.ok(registered.has('thebacknd.machines.focus'), 'VS Code did not create the thebacknd.machines view');
    await vscode.commands.executeCommand('workbench.view.extension.thebacknd');
    await vscode.commands.executeCommand('thebacknd.machines.focus');
  });
});
