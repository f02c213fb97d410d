// The Machines view: one node per provider that has a token. Listing the machines themselves arrives with the
// providers; until then the provider node says so rather than showing an empty, misleading list.

import * as vscode from 'vscode';
import type { Ctx } from '../commands/context';
import type { ProviderId } from '../providers/types';
import { PROVIDER_LABEL } from '../core/tokens';

type Node = { kind: 'provider'; provider: ProviderId; source: string } | { kind: 'note'; text: string };

export class MachinesTree implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly sub: vscode.Disposable;

  constructor(private readonly ctx: Ctx) {
    this.sub = ctx.onDidChangeAccounts(() => this.changed.fire(undefined));
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (!node) {
      const out: Node[] = [];
      for (const p of await this.ctx.tokens.configured()) {
        const t = await this.ctx.tokens.get(p);
        out.push({ kind: 'provider', provider: p, source: t?.source ?? '' });
      }
      return out;
    }
    if (node.kind === 'provider') return [{ kind: 'note', text: 'Listing machines is not available in this version yet.' }];
    return [];
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === 'note') {
      const item = new vscode.TreeItem(node.text);
      item.iconPath = new vscode.ThemeIcon('info');
      return item;
    }
    const item = new vscode.TreeItem(PROVIDER_LABEL[node.provider], vscode.TreeItemCollapsibleState.Expanded);
    item.id = `provider:${node.provider}`;
    item.description = `token from ${node.source}`;
    item.contextValue = `provider:${node.provider}`;
    item.iconPath = new vscode.ThemeIcon('cloud');
    return item;
  }

  dispose(): void {
    this.sub.dispose();
    this.changed.dispose();
  }
}
