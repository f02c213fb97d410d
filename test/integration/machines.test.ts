// The Machines view, its commands and the reaper, in the real extension inside real VS Code, against the cloud
// emulator. The emulator runs in this extension host (the tests need its state); the extension is pointed at it the
// way a user would do it: tokens in the environment, endpoints in the user settings.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { Emulator } from '../fixtures/emulator';
import { doTags, hetznerLabels, newRunId, readDoTags } from '../../src/providers/tags';
import type { ThebackndApi } from '../../src/extension';
import type { MachineNode, Node } from '../../src/views/machinesTree';
import { startCloud, thebacknd, waitFor, type Cloud } from './harness';
import { snapshotTree } from './scan';
import { durationsLeft } from '../fixtures/time-left';

const min = 60_000;

/** The row's description, and the texts its time left may have, given when it was read. */
function timeLeftOf(read: () => vscode.TreeItem | undefined, deadline: number): { description: string; texts: string[] } {
  const from = Date.now();
  const description = String(read()?.description);
  return { description, texts: durationsLeft(deadline, from, Date.now()).map((d) => `${d} left`) };
}

suite('machines view, commands and reaper (emulator)', function () {
  this.timeout(120_000);
  let cloud: Cloud;
  let emu: Emulator;
  let tree: ThebackndApi['machinesTree'];

  /** Machine rows under each provider, as VS Code gets them from the tree. */
  function rows(): { node: MachineNode; item: vscode.TreeItem }[] {
    const out: { node: MachineNode; item: vscode.TreeItem }[] = [];
    for (const p of tree.getChildren() as Node[]) {
      for (const c of tree.getChildren(p) as Node[]) if (c.kind === 'machine') out.push({ node: c, item: tree.getTreeItem(c) });
    }
    return out;
  }
  const row = (provider: string, name: string) => rows().find((r) => r.node.machine.provider === provider && r.item.label === name);

  suiteSetup(async () => {
    tree = (await thebacknd()).machinesTree;
    assert.ok(tree, 'the extension exports its machines tree');
    cloud = await startCloud({ suite: 'machines suite', emulator: { delays: { doActiveMs: 0, deleteMs: 0, actionMs: 0 } } });
    emu = cloud.emu;
  });

  suiteTeardown(async () => {
    await cloud?.close();
  });

  test("the tree shows the emulator's tagged machines under their providers, marked as the local emulator", async () => {
    const now = Date.now();
    emu.addDroplet({ name: 'thebacknd-1', region: 'ams3', tags: doTags(newRunId(), new Date(now + 41 * min + 30_000)) });
    emu.addDroplet({ name: 'thebacknd-2', tags: doTags(newRunId(), new Date(now + 50 * min)) });
    emu.addDroplet({ name: 'thebacknd-3', tags: doTags(newRunId(), new Date(now + 50 * min)) });
    emu.addDroplet({ name: 'my-web-server', tags: ['web'] });
    emu.addServer({ name: 'thebacknd-1', labels: hetznerLabels(newRunId(), new Date(now + 20 * min)) });
    await vscode.commands.executeCommand('thebacknd.refresh');
    await waitFor('the four machines in the tree', () => rows().length === 4 || undefined);

    const providers = (tree.getChildren() as Node[]).map((p) => tree.getTreeItem(p));
    assert.deepEqual(
      providers.map((p) => p.label),
      ['DigitalOcean', 'Hetzner'],
    );
    for (const p of providers) assert.match(String(p.description), /^local emulator at 127\.0\.0\.1:\d+ · \d machines? · token from environment$/);
    assert.equal(row('digitalocean', 'my-web-server'), undefined, 'an untagged droplet is not shown');

    const r = row('digitalocean', 'thebacknd-1')!;
    const left = timeLeftOf(() => row('digitalocean', 'thebacknd-1')?.item, now + 41 * min + 30_000);
    assert.match(left.description, /^203\.0\.113\.\d+ · /);
    assert.ok(left.texts.includes(left.description.split(' · ')[1]!), `${left.description}: one of ${left.texts.join(', ')}`);
    assert.equal(r.item.contextValue, 'machine:running+ip+ssh');
    assert.equal((r.item.iconPath as vscode.ThemeIcon).id, 'vm-running');
    const tip = (r.item.tooltip as vscode.MarkdownString).value;
    for (const want of ['| Region | ams3 |', '| Price | $0.0089 per hour |', '| Cost so far |', '| Age |', '| Deadline |', '| Run id | `thebacknd-']) {
      assert.ok(tip.includes(want), `${want} in the tooltip:\n${tip}`);
    }
    const hz = timeLeftOf(() => row('hetzner', 'thebacknd-1')?.item, now + 20 * min);
    assert.match(hz.description, /^203\.0\.113\.\d+ · /);
    assert.ok(hz.texts.includes(hz.description.split(' · ')[1]!), `${hz.description}: one of ${hz.texts.join(', ')}`);
    await snapshotTree('four machines', tree);
  });

  test('Destroy with a node (and with a multi-selection) removes those machines and no other', async () => {
    const before = rows();
    const two = row('digitalocean', 'thebacknd-2')!;
    await vscode.commands.executeCommand('thebacknd.machine.destroy', two.node, [two.node], { confirm: false });
    await waitFor('thebacknd-2 to leave the tree', () => !row('digitalocean', 'thebacknd-2'));
    assert.equal(emu.state.droplets.has(Number(two.node.machine.id)), false, 'the droplet is gone from the cloud');
    assert.equal(rows().length, before.length - 1);

    const a = row('digitalocean', 'thebacknd-3')!;
    const b = row('hetzner', 'thebacknd-1')!;
    await vscode.commands.executeCommand('thebacknd.machine.destroy', a.node, [a.node, b.node], { confirm: false });
    await waitFor('the selection to leave the tree', () => !row('digitalocean', 'thebacknd-3') && !row('hetzner', 'thebacknd-1'));
    assert.equal(emu.state.servers.size, 0);
    assert.ok(row('digitalocean', 'thebacknd-1'), 'the machine not selected stays');
    assert.ok(
      [...emu.state.droplets.values()].some((d) => d.name === 'my-web-server'),
      'the untagged droplet stays',
    );
  });

  test('Extend retags the deadline on the machine: later of now and the deadline, plus the minutes', async () => {
    const r = row('digitalocean', 'thebacknd-1')!;
    const old = Date.parse(r.node.machine.deadline!);
    await vscode.commands.executeCommand('thebacknd.machine.extend', r.node, undefined, 30);
    const stored = () => readDoTags(emu.state.droplets.get(Number(r.node.machine.id))!.tags).deadline;
    assert.equal(Date.parse(stored()!), old + 30 * min, 'the deadline tag on the droplet moved by 30 minutes');
    await waitFor('the tree to show the new time left', () => {
      const left = timeLeftOf(() => row('digitalocean', 'thebacknd-1')?.item, old + 30 * min);
      return left.texts.includes(left.description.split(' · ')[1] ?? '') || undefined;
    });
  });

  test('the reaper destroys an expired tagged machine and a powered-off one, not an untagged one nor one within its deadline', async function () {
    // The reaper ticks every 30 s; a machine the tree has listed as due is reaped at the next tick.
    this.timeout(100_000);
    const now = Date.now();
    const expired = emu.addDroplet({ name: 'thebacknd-5', tags: doTags(newRunId(), new Date(now - 2 * min)) });
    const off = emu.addServer({ name: 'thebacknd-6', labels: hetznerLabels(newRunId(), new Date(now + 30 * min)) });
    emu.powerOff('hetzner', off.id);
    const within = emu.addDroplet({ name: 'thebacknd-7', tags: doTags(newRunId(), new Date(now + 30 * min)) });
    const untagged = emu.addDroplet({ name: 'old-database', tags: ['db'], createdAt: new Date(now - 72 * 60 * min).toISOString().replace(/\.\d+Z$/, 'Z') });
    emu.powerOff('digitalocean', untagged.id);
    await vscode.commands.executeCommand('thebacknd.refresh');
    await waitFor('the expired and the powered-off machines to be destroyed', () => !emu.state.droplets.has(expired.id) && !emu.state.servers.has(off.id), 75_000);
    assert.ok(emu.state.droplets.has(within.id), 'the machine within its deadline stays');
    assert.ok(emu.state.droplets.has(untagged.id), 'the untagged machine stays, old and powered off as it is');
    const deletes = emu.requests.filter((q) => q.method === 'DELETE').map((q) => q.path);
    assert.ok(!deletes.some((p) => p.endsWith(`/${untagged.id}`) || p.endsWith(`/${within.id}`)), `no delete was sent for them: ${deletes.join(', ')}`);
    await waitFor('the tree to drop them', () => !row('digitalocean', 'thebacknd-5') && !row('hetzner', 'thebacknd-6'));
  });

  test('a list that shows nothing new does not refresh the view; a new machine does', async () => {
    const refreshes = async (): Promise<number> => {
      let n = 0;
      const sub = tree.onDidChangeTreeData(() => n++);
      try {
        await vscode.commands.executeCommand('thebacknd.refresh');
        await vscode.commands.executeCommand('thebacknd.refresh');
      } finally {
        sub.dispose();
      }
      return n;
    };
    // (Once more if a countdown minute happened to turn over in between.)
    const unchanged = (await refreshes()) && (await refreshes());
    assert.equal(unchanged, 0, 'two lists with the same machines refreshed the view');
    emu.addDroplet({ name: 'thebacknd-9', tags: doTags(newRunId(), new Date(Date.now() + 30 * min)) });
    assert.ok((await refreshes()) >= 1, 'a new machine refreshes the view');
    await waitFor('thebacknd-9 in the tree', () => row('digitalocean', 'thebacknd-9'));
  });

  test("Destroy Old applies the reaper's policy at once", async () => {
    const expired = emu.addDroplet({ name: 'thebacknd-8', tags: doTags(newRunId(), new Date(Date.now() - min)) });
    await vscode.commands.executeCommand('thebacknd.destroyOld');
    assert.equal(emu.state.droplets.has(expired.id), false);
    assert.equal(row('digitalocean', 'thebacknd-8'), undefined);
    assert.ok(row('digitalocean', 'thebacknd-7'), 'a machine within its deadline stays');
  });

  test('every request the extension sent was on-spec', () => {
    assert.deepEqual(emu.violations, []);
    assert.deepEqual(emu.errors, []);
  });
});
