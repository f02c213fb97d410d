// What the in-editor suites hand to the secrets scan that runs after them (secrets.test.ts): what the clouds
// received, and snapshots of what the user saw, taken while machines existed (tree items, machine panels).
// Everything else the scan reads (logs, settings, storage) is on disk when it runs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { artefact, type Artefact } from '../fixtures/secrets';
import type { MachinePanel } from '../../src/views/machinePanel';
import type { MachinesTree, Node } from '../../src/views/machinesTree';

const kept: Artefact[] = [];

export function keepForScan(artefacts: readonly Artefact[]): void {
  kept.push(...artefacts);
}

export function keptForScan(): readonly Artefact[] {
  return kept;
}

/** Every item of the Machines tree as VS Code gets it: label, description, tooltip, icon, context value, command. */
export async function snapshotTree(label: string, tree: MachinesTree): Promise<number> {
  let items = 0;
  const walk = async (parent?: Node): Promise<void> => {
    for (const node of ((await tree.getChildren(parent)) ?? []) as Node[]) {
      const item = await tree.getTreeItem(node);
      keepForScan([artefact(`tree item (${label}) #${items++}`, { ...item, tooltip: textOf(item.tooltip) })]);
      await walk(node);
    }
  };
  await walk();
  return items;
}

/** A machine panel's webview state: every message it was posted (state and log), its HTML, what it rendered. */
export function snapshotPanel(label: string, panel: MachinePanel): void {
  keepForScan([
    artefact(`panel state (${label})`, panel.model.state),
    artefact(`panel log (${label})`, panel.model.log.join('\n')),
    artefact(`panel html (${label})`, panel.webviewPanel.webview.html),
    artefact(`panel title (${label})`, panel.webviewPanel.title),
    artefact(`panel rendered (${label})`, panel.lastRendered),
  ]);
}

/**
 * The user's and the machine's settings.json and every Thebacknd setting as VS Code resolves it at every level; taken while a suite
 * has them set, as the suites put them back when they end.
 */
export function snapshotSettings(label: string, userDataDir: string | undefined): void {
  const ext = vscode.extensions.getExtension('thebacknd.thebacknd');
  const props = (ext?.packageJSON as { contributes: { configuration: { properties: Record<string, unknown> } } }).contributes.configuration.properties;
  const config = vscode.workspace.getConfiguration();
  keepForScan(Object.keys(props).map((key) => artefact(`setting ${key} (${label})`, config.inspect(key))));
  // Machine-scoped settings (where credentials go) are written to the remote's Machine folder, the rest to User.
  for (const scope of ['User', 'Machine']) {
    const file = userDataDir && path.join(userDataDir, scope, 'settings.json');
    if (file && fs.existsSync(file)) keepForScan([artefact(`${scope.toLowerCase()} settings.json (${label})`, fs.readFileSync(file, 'utf8'))]);
  }
}

function textOf(t: string | vscode.MarkdownString | undefined): string | undefined {
  return typeof t === 'string' || t === undefined ? t : t.value;
}
