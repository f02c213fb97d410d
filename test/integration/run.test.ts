// Run Toplevel end to end, in the real extension inside real VS Code: the cloud emulator runs in this extension
// host and backs every machine it creates with a real test host (a network namespace with sshd, a metadata service
// and the boot agent; root needed, as code-server runs here), the binary cache is a real S3 server (s3rver) the
// hosts substitute from over HTTP, and builds use the real nix. The command is driven through its documented
// argument ({ payload, placement, onEvent, signal }), which skips the pickers only.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as vscode from 'vscode';
import type { Emulator } from '../fixtures/emulator';
import type { HostHookMachine } from '../fixtures/emulator/types';
import { artefact, mintSecret, registerSecret } from '../fixtures/secrets';
import { buildTestClosures, NIX_ENV, startHostCache, testHostHook, type HostCache, type TestClosures, type TestHostHook } from '../fixtures/testhost';
import { readDoTags } from '../../src/providers/tags';
import { durationsLeft } from '../fixtures/time-left';
import { generateEd25519 } from '../../src/base/ed25519';
import type { ThebackndApi } from '../../src/extension';
import type { Machine } from '../../src/providers/types';
import type { RunEvent, Stage } from '../../src/run/types';
import type { RunOutcome } from '../../src/commands/run';
import type { DeployCommandResult } from '../../src/commands/deploy';
import type { DeployEvent } from '../../src/deploy/types';
import type { MachinePanel } from '../../src/views/machinePanel';
import type { Node } from '../../src/views/machinesTree';
import { registerLoginKey, startCloud, thebacknd, waitFor, type Cloud } from './harness';
import { keepForScan, snapshotPanel, snapshotTree } from './scan';
import { writeDemoFlake } from '../fixtures/demo-flake';

const run = promisify(execFile);

suite('Run Toplevel end to end (emulator, test hosts, S3 cache, nix)', function () {
  this.timeout(240_000);
  let emu: Emulator;
  let hook: TestHostHook;
  let cache: HostCache;
  let closures: TestClosures;
  let work: string;
  let tree: ThebackndApi['machinesTree'];
  /** Created machines present another host key than the one pinned for them. */
  let manInTheMiddle = false;
  let cloud: Cloud;
  const awsSecret = mintSecret('cache secret access key (run suite)', '', 40);
  const set = (key: string, value: unknown) => cloud.set(key, value);

  /** The happy path's machine, shared by the tests that follow it. */
  let machine: Machine;
  let keysDir: string;
  let storePath: string;

  function rows(): { machine: Machine; label: string }[] {
    const out: { machine: Machine; label: string }[] = [];
    for (const p of tree.getChildren() as Node[]) {
      for (const c of tree.getChildren(p) as Node[]) if (c.kind === 'machine') out.push({ machine: c.machine, label: String(tree.getTreeItem(c).label) });
    }
    return out;
  }
  const inTree = (runId: string) => rows().find((r) => r.machine.runId === runId);
  const dropletsOf = (runId: string) => [...emu.state.droplets.values()].filter((d) => readDoTags(d.tags).runId === runId);
  const keysOf = (runId: string) => path.join(path.dirname(keysDir), runId);

  async function runToplevel(args: Record<string, unknown>, onEvent?: (e: RunEvent) => void): Promise<RunOutcome & { events: RunEvent[] }> {
    const events: RunEvent[] = [];
    const keyless: string[] = [];
    const outcome = (await vscode.commands.executeCommand('thebacknd.runToplevel', {
      placement: { provider: 'digitalocean' },
      ...args,
      onEvent: (e: RunEvent) => {
        events.push(e);
        // Its keys exist once it is created: the secrets scan looks for its login key everywhere else.
        if (e.type === 'machine' && e.machine.runId && !registerLoginKey(e.machine.runId, 'run')) keyless.push(e.machine.runId);
        onEvent?.(e);
      },
    })) as RunOutcome | undefined;
    assert.ok(outcome, 'the command resolves with the run outcome');
    assert.deepEqual(keyless, [], "every created machine had its login key in the extension's storage");
    keepForScan([artefact(`run ${outcome.runId}: outcome and events`, { outcome, events })]);
    return { ...outcome, events };
  }
  const stagesOf = (events: RunEvent[]): Stage[] => events.flatMap((e) => (e.type === 'stage' ? [e.stage] : []));
  const failure = (o: RunOutcome): string => (o.ok ? '' : o.message);

  suiteSetup(async function () {
    this.timeout(180_000);
    tree = (await thebacknd()).machinesTree;
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-run-it-'));
    closures = await buildTestClosures(path.join(work, 'closures'));
    registerSecret({ name: 'cache signing key (run suite)', value: fs.readFileSync(path.join(work, 'closures', 'secret.key'), 'utf8').trim() });
    cache = await startHostCache();
    await cache.upload(closures.cacheDir);
    cloud = await startCloud({ suite: 'run suite', emulator: { delays: { doActiveMs: 100, hetznerStartingMs: 50, hetznerRunningMs: 50, actionMs: 50, deleteMs: 0 } } });
    emu = cloud.emu;
    hook = testHostHook({ onPowerOff: (m) => emu.powerOff(m.provider, m.id) });
    emu.setHostHook({
      ...hook,
      onCreate: (m: HostHookMachine) => hook.onCreate(manInTheMiddle ? withForeignHostKey(m) : m),
    });
    cloud.setEnv('NIX_CONFIG', NIX_ENV.NIX_CONFIG);
    cloud.setEnv('AWS_ACCESS_KEY_ID', cache.s3.credentials.accessKeyId);
    // s3rver checks the access key id only; the secret key is minted so that the secrets scan can look for it.
    cloud.setEnv('AWS_SECRET_ACCESS_KEY', awsSecret);
    await set('cache.publicUrl', cache.url);
    await set('cache.trustedPublicKey', closures.publicKey);
  });

  suiteTeardown(async function () {
    this.timeout(60_000);
    await hook?.closeAll();
    await cloud?.close();
    await cache?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  /** Builds, signs and uploads to the cache a program that takes a few seconds; returns its path. */
  async function cacheSlowJob(): Promise<string> {
    const dir = path.join(work, 'slow-job');
    fs.mkdirSync(dir, { recursive: true });
    const expr = `derivation { name = "thebacknd-slow-job"; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/bin:/usr/bin"; nonce = "${Date.now()}";
      args = [ "-c" "mkdir -p $out/bin; printf '#!/bin/sh\\nsleep 6\\necho slow job done\\ntouch /root/slow-job-ran\\n' > $out/bin/job; chmod +x $out/bin/job" ]; }`;
    fs.writeFileSync(path.join(dir, 'job.nix'), expr);
    const env = { ...process.env, ...NIX_ENV };
    const out = (await run('nix-build', ['--no-out-link', 'job.nix'], { cwd: dir, env })).stdout.trim();
    await run('nix', ['store', 'sign', '--key-file', path.join(work, 'closures', 'secret.key'), out], { cwd: dir, env });
    await run('nix', ['copy', '--to', `file://${dir}/cache?compression=zstd`, out], { cwd: dir, env });
    await cache.upload(path.join(dir, 'cache'));
    return `${out}/bin/job`;
  }

  /** The agent on a man-in-the-middle host installs another host key than the one pinned for the machine. */
  function withForeignHostKey(m: HostHookMachine): HostHookMachine {
    const data = JSON.parse(m.userData) as { hostKey?: { private: string; public: string } };
    const other = generateEd25519('someone-else');
    data.hostKey = { private: other.privateKey, public: other.publicKey };
    return { ...m, userData: JSON.stringify(data) };
  }

  test('a nixosConfiguration is built, signed, pushed; the machine shows in the tree at once and switches to it', async () => {
    const flake = path.join(work, 'flake');
    writeDemoFlake(flake);
    await set('cache.endpoint', cache.s3.endpoint);
    await set('cache.bucket', cache.s3.bucket);
    await set('cache.signingKeyFile', path.join(work, 'closures', 'secret.key'));

    let shownWhileRunning: string | undefined;
    let settled = false;
    const pending = runToplevel({ payload: { kind: 'configuration', flakeRef: flake, name: 'demo' } }, (e) => {
      if (e.type === 'machine' && !shownWhileRunning) {
        const runId = e.machine.runId!;
        // The tree must show it while the run is still waiting for the machine, not after.
        void waitFor('the new machine in the tree', () => inTree(runId), 20_000).then((r) => {
          if (!settled) shownWhileRunning = r.label;
        });
      }
    });
    const o = await pending.finally(() => (settled = true));
    assert.ok(o.ok, `the run succeeded: ${failure(o)}`);
    assert.match(shownWhileRunning ?? '', /^thebacknd-\d+$/, 'the machine was in the tree before the run ended');

    assert.deepEqual(stagesOf(o.events), ['build', 'sign', 'push', 'keys', 'create', 'wait-running', 'wait-ssh', 'boot', 'ready']);
    machine = o.result.machine;
    storePath = o.result.storePath!;
    keysDir = o.result.keys.dir;
    assert.match(storePath, /^\/nix\/store\/[a-z0-9]{32}-nixos-system-demo$/);
    const hash = path.basename(storePath).slice(0, 32);
    assert.ok(
      cache.s3.created.some((c) => c.key === `${hash}.narinfo`),
      'the toplevel was pushed to the cache',
    );

    const host = hook.host('digitalocean', machine.id);
    assert.ok(host, 'the machine is backed by a test host');
    assert.equal(fs.readFileSync(host.file('root/thebacknd-switches'), 'utf8'), `switched ${storePath}\n`, 'the switched toplevel left its marker');
    const userData = JSON.parse(fs.readFileSync(host.file('user-data'), 'utf8')) as Record<string, unknown>;
    assert.equal(userData.toplevel, storePath);
    assert.ok(!JSON.stringify(userData).includes(awsSecret), 'no cache secret in the user-data');
    assert.ok(fs.existsSync(path.join(keysDir, 'login_ed25519')), 'the login key is stored');
    assert.equal(fs.statSync(path.join(keysDir, 'login_ed25519')).mode & 0o777, 0o600);
    assert.equal(fs.statSync(keysDir).mode & 0o777, 0o700);

    const states = o.timeline.map((t) => `${t.state}: ${t.label}`);
    for (const want of ['done: Build', 'done: Push to the cache', 'done: Wait for SSH (pinned host key)', 'done: Agent: Switched to the new configuration', 'done: Ready']) {
      assert.ok(states.includes(want), `${want} in the timeline:\n${states.join('\n')}`);
    }
    await set('cache.endpoint', undefined);
    await set('cache.bucket', undefined);
    await set('cache.signingKeyFile', undefined);
  });

  test('the panel shows the stages with their times, the log, the cost and the countdown, under a strict CSP', async () => {
    const from = Date.now();
    const panel = (await vscode.commands.executeCommand('thebacknd.machine.openPanel', machine)) as MachinePanel;
    assert.ok(panel, 'Open Panel returns the panel');
    const r = await panel.whenRendered((x) => x.timeline.includes('done: Ready') && x.logLines > 0 && x.buttons.includes('Open Terminal'));
    const to = Date.now();
    for (const want of ['done: Build', 'done: Sign', 'done: Push to the cache', 'done: Create the machine', 'done: Agent: Switched to the new configuration']) {
      assert.ok(r.timeline.includes(want), `${want} on screen:\n${r.timeline.join('\n')}`);
    }
    assert.equal(r.status, 'ready');
    assert.match(r.cost, /^≈ \$0\.\d{4}$/);
    // The machine's own deadline, as it read while the panel was opening, however long the run took.
    const left = durationsLeft(Date.parse(machine.deadline!), from, to).map((d) => `${d} left`);
    assert.ok(left.includes(r.countdown), `${r.countdown}: one of ${left.join(', ')}`);
    assert.deepEqual(new Set(r.buttons), new Set(['Open Terminal', 'Show Boot Log', 'Deploy…', 'Extend…', 'Destroy…', 'Deploy on save: off']));
    const html = panel.webviewPanel.webview.html;
    assert.match(html, /default-src 'none'/);
    assert.match(html, /script-src 'nonce-[A-Za-z0-9+/=]+'/);
    assert.doesNotMatch(html, /unsafe-inline|unsafe-eval/, 'no inline code');
    // Every resource is one of the extension's own files, through the webview resource scheme: no remote content.
    const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.equal(urls.length, 2, urls.join(' '));
    for (const u of urls) assert.match(u, /^https:\/\/[^/]+\.vscode-resource\.vscode-cdn\.net\/.*\/(dist\/panel\/panel\.js|media\/panel\/panel\.css)$/, u);
    const same = (await vscode.commands.executeCommand('thebacknd.machine.openPanel', machine)) as MachinePanel;
    assert.equal(same, panel, 'one panel per machine');
    snapshotPanel(`run ${machine.runId!}`, panel);
    assert.ok((await snapshotTree("with a run's machine", tree)) >= 3, 'the tree showed the providers and the machine');
  });

  test('Open Terminal: a command typed in the terminal prints its output back; exit closes it with its status', async () => {
    const terminal = (await vscode.commands.executeCommand('thebacknd.machine.openTerminal', machine)) as vscode.Terminal;
    assert.ok(terminal, 'Open Terminal returns the terminal');
    assert.equal(terminal.name, machine.name);
    const pty = (terminal.creationOptions as vscode.ExtensionTerminalOptions).pty;
    let out = '';
    const sub = pty.onDidWrite((d) => (out += d));
    try {
      terminal.sendText('echo "answer=$((6*7))"; cat /root/thebacknd-switches');
      await waitFor('the command output in the terminal', () => out.includes('answer=42') && out.includes(`switched ${storePath}`));
      const closed = new Promise<vscode.Terminal>((resolve) => {
        const s = vscode.window.onDidCloseTerminal((t) => {
          if (t === terminal) {
            s.dispose();
            resolve(t);
          }
        });
      });
      terminal.sendText('exit 0');
      const t = await closed;
      assert.equal(t.exitStatus?.code, 0);
    } finally {
      keepForScan([artefact(`terminal of ${machine.name}`, out)]);
      sub.dispose();
    }
  });

  test('Open in Remote-SSH writes a pinned Host entry that OpenSSH accepts, and adds the Include only with consent', async () => {
    const dir = path.join(work, 'ssh');
    const managedFile = path.join(dir, 'thebacknd_config');
    const userConfig = path.join(dir, 'config');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(userConfig, 'Host other\n  HostName example.org\n', { mode: 0o600 });
    const declined = path.join(dir, 'config-declined');
    fs.writeFileSync(declined, 'Host other\n', { mode: 0o600 });

    await vscode.commands.executeCommand('thebacknd.machine.openInRemoteSsh', machine, undefined, { consent: false, managedFile, userConfig: declined, open: false });
    assert.equal(fs.readFileSync(declined, 'utf8'), 'Host other\n', 'without consent the user config is untouched');

    const alias = await vscode.commands.executeCommand('thebacknd.machine.openInRemoteSsh', machine, undefined, { consent: true, managedFile, userConfig, open: false });
    assert.equal(alias, machine.name);
    const user = fs.readFileSync(userConfig, 'utf8');
    assert.match(user, new RegExp(`^# Added by Thebacknd[^\\n]*\\nInclude "${managedFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"\\n`));
    assert.ok(user.endsWith('Host other\n  HostName example.org\n'), 'the rest of the user config is kept');
    const entry = fs.readFileSync(managedFile, 'utf8');
    assert.match(entry, new RegExp(`Host ${machine.name}\\n  HostName ${machine.ipv4!.replace(/\./g, '\\.')}\\n`));
    assert.match(entry, /StrictHostKeyChecking yes/);

    // The real OpenSSH client, through the entry alone: pinned key, login key, no prompt.
    const { stdout } = await run('ssh', ['-F', managedFile, '-o', 'BatchMode=yes', machine.name, 'cat /root/thebacknd-switches'], { timeout: 20_000 });
    assert.equal(stdout, `switched ${storePath}\n`);
  });

  test('Deploy to Machine: a changed configuration switches the running machine; tree and panel show the deploy', async () => {
    const flake = path.join(work, 'flake');
    writeDemoFlake(flake, `deploy-${Date.now()}`);
    await set('cache.endpoint', cache.s3.endpoint);
    await set('cache.bucket', cache.s3.bucket);
    await set('cache.signingKeyFile', path.join(work, 'closures', 'secret.key'));
    const before = emu.state.droplets.size;
    const events: DeployEvent[] = [];
    const result = (await vscode.commands.executeCommand('thebacknd.machine.deploy', machine, {
      payload: { kind: 'configuration', flakeRef: flake, name: 'demo' },
      // The test hosts have no systemd and no image: the repository's script, detached with setsid.
      deployCommand: `THEBACKND_DETACH=setsid bash ${path.resolve(__dirname, '../../../nix/agent/thebacknd-deploy.sh')}`,
      onEvent: (e: DeployEvent) => events.push(e),
    })) as DeployCommandResult;
    keepForScan([artefact(`deploy to ${machine.name}`, { result, events })]);
    assert.ok('outcome' in result && result.outcome === 'confirmed', JSON.stringify(result));
    assert.notEqual(result.storePath, storePath);
    assert.equal(result.previous, storePath);
    assert.equal(emu.state.droplets.size, before, 'no machine was created');
    const host = hook.host('digitalocean', machine.id)!;
    assert.equal(fs.readFileSync(host.file('root/thebacknd-switches'), 'utf8'), `switched ${storePath}\nswitched ${result.storePath}\n`);

    const row = await waitFor('the tree row to say deployed', () => {
      for (const p of tree.getChildren() as Node[]) {
        for (const c of tree.getChildren(p) as Node[]) {
          if (c.kind !== 'machine' || c.machine.runId !== machine.runId) continue;
          const item = tree.getTreeItem(c);
          if (String(item.description).includes('deployed')) return item;
        }
      }
      return undefined;
    });
    assert.match(String((row.tooltip as vscode.MarkdownString).value), new RegExp(`Runs \`${result.storePath.replace(/[./]/g, '\\$&')}\``));
    const panel = (await vscode.commands.executeCommand('thebacknd.machine.openPanel', machine)) as MachinePanel;
    const r = await panel.whenRendered((x) => (x.deploys ?? []).length === 1 && x.buttons.includes('Deploy…'));
    assert.match(r.deploys![0]!, new RegExp(`^\\d\\d:\\d\\d:\\d\\d confirmed ${result.storePath.replace(/[./]/g, '\\$&')} · sent [\\d.]+ (B|KiB) · fetched [\\d.]+ (B|KiB)$`));
    assert.ok(r.buttons.includes('Deploy on save: off'), r.buttons.join(', '));
    storePath = result.storePath;
    await set('cache.endpoint', undefined);
    await set('cache.bucket', undefined);
    await set('cache.signingKeyFile', undefined);
  });

  test('Deploy on save: a change to the flake redeploys the last configuration to the same machine', async () => {
    const flake = path.join(work, 'flake');
    await set('cache.endpoint', cache.s3.endpoint);
    await set('cache.bucket', cache.s3.bucket);
    await set('cache.signingKeyFile', path.join(work, 'closures', 'secret.key'));
    const host = hook.host('digitalocean', machine.id)!;
    const switches = () => fs.readFileSync(host.file('root/thebacknd-switches'), 'utf8').trim().split('\n');
    const before = switches().length;
    await set('deploy.onSave', true);
    try {
      // The user's way: edit flake.nix in the editor and save it.
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(path.join(flake, 'flake.nix')));
      const edit = new vscode.WorkspaceEdit();
      const at = doc.getText().indexOf('nonce = "') + 'nonce = "'.length;
      edit.insert(doc.uri, doc.positionAt(at), `on-save-${Date.now()}-`);
      assert.ok(await vscode.workspace.applyEdit(edit), 'the edit applies');
      assert.ok(await doc.save(), 'the document saves');
      const lines = await waitFor('the machine to switch again', () => (switches().length > before ? switches() : undefined), 60_000);
      assert.match(lines.at(-1)!, /^switched \/nix\/store\/[a-z0-9]{32}-nixos-system-demo$/);
      assert.notEqual(lines.at(-1), `switched ${storePath}`, 'a new toplevel');
      const panel = (await vscode.commands.executeCommand('thebacknd.machine.openPanel', machine)) as MachinePanel;
      const r = await panel.whenRendered((x) => (x.deploys ?? []).length === 2 && x.buttons.includes('Deploy on save: on'), 60_000);
      assert.match(r.deploys![0]!, / confirmed \/nix\/store\//);
      storePath = lines.at(-1)!.replace(/^switched /, '');
    } finally {
      await set('deploy.onSave', undefined);
      await set('cache.endpoint', undefined);
      await set('cache.bucket', undefined);
      await set('cache.signingKeyFile', undefined);
    }
  });

  test('Destroy removes the machine, its host, its keys and its Host entry', async () => {
    const runId = machine.runId!;
    await vscode.commands.executeCommand('thebacknd.machine.destroy', machine, undefined, { confirm: false });
    await waitFor('the machine to leave the tree', () => !inTree(runId));
    assert.equal(emu.state.droplets.has(Number(machine.id)), false, 'the droplet is gone');
    assert.equal(hook.host('digitalocean', machine.id), undefined, 'its test host is gone');
    await waitFor('its keys to be removed', () => !fs.existsSync(keysDir));
    await waitFor('its Host entry to be removed', () => !fs.readFileSync(path.join(work, 'ssh', 'thebacknd_config'), 'utf8').includes(`Host ${machine.name}\n`));
  });

  test('a host that answers with another host key is refused as a man-in-the-middle, and its machine destroyed', async () => {
    manInTheMiddle = true;
    try {
      const o = await runToplevel({ payload: { kind: 'toplevel', storePath: closures.toplevel } });
      assert.equal(o.ok, false);
      assert.match(failure(o), /does not match the key this machine was created with — possible man-in-the-middle; not connecting/);
      assert.ok(
        o.timeline.some((t) => t.key === 'run:wait-ssh' && t.state === 'failed'),
        o.timeline.map((t) => `${t.state}: ${t.key}`).join('\n'),
      );
      assert.ok(stagesOf(o.events).includes('cleanup'), 'the run cleaned up');
      assert.deepEqual(dropletsOf(o.runId), [], 'no machine is left');
      assert.equal(fs.existsSync(keysOf(o.runId)), false, 'its keys are removed');
    } finally {
      manInTheMiddle = false;
    }
  });

  test('an agent failure (a path missing from the cache) shows in the run; the machine is destroyed, or kept and marked when asked', async () => {
    const o = await runToplevel({ payload: { kind: 'toplevel', storePath: closures.incompleteToplevel } });
    assert.equal(o.ok, false);
    assert.match(failure(o), /missing|not in the cache|cannot be fetched/i);
    assert.ok(
      o.timeline.some((t) => t.state === 'failed' && t.label.startsWith('Agent: Boot failed')),
      o.timeline.map((t) => `${t.state}: ${t.label}`).join('\n'),
    );
    assert.deepEqual(dropletsOf(o.runId), [], 'the failed machine was destroyed');
    assert.equal(fs.existsSync(keysOf(o.runId)), false);

    const kept = await runToplevel({ payload: { kind: 'toplevel', storePath: closures.incompleteToplevel }, onFailure: 'keep' });
    assert.equal(kept.ok, false);
    const [d] = dropletsOf(kept.runId);
    assert.ok(d, 'the machine is kept');
    const marks = readDoTags(d.tags);
    assert.ok(marks.tagged && marks.deadline, 'it carries the thebacknd tag and its deadline: the reaper will destroy it');
    assert.ok(fs.existsSync(keysOf(kept.runId)), 'its keys stay, so that it can be inspected over SSH');
    const row = await waitFor('the kept machine in the tree', () => inTree(kept.runId));
    await vscode.commands.executeCommand('thebacknd.machine.destroy', row.machine, undefined, { confirm: false });
    await waitFor('the kept machine to be gone with its keys', () => dropletsOf(kept.runId).length === 0 && !fs.existsSync(keysOf(kept.runId)));
  });

  test('cancelling at each stage leaves no machine and no keys behind', async () => {
    const points: { name: string; at: (e: RunEvent) => boolean }[] = [
      { name: 'keys', at: (e) => e.type === 'stage' && e.stage === 'keys' },
      { name: 'created', at: (e) => e.type === 'machine' },
      { name: 'wait-running', at: (e) => e.type === 'stage' && e.stage === 'wait-running' },
      { name: 'wait-ssh', at: (e) => e.type === 'stage' && e.stage === 'wait-ssh' },
      { name: 'boot', at: (e) => e.type === 'stage' && e.stage === 'boot' },
    ];
    for (const p of points) {
      const ctl = new AbortController();
      const o = await runToplevel({ payload: { kind: 'toplevel', storePath: closures.toplevel }, signal: ctl.signal }, (e) => {
        if (p.at(e)) ctl.abort();
      });
      assert.equal(o.ok, false, `cancelled at ${p.name}`);
      assert.equal(!o.ok && o.cancelled, true, `reported as cancelled at ${p.name}: ${failure(o)}`);
      assert.deepEqual(
        dropletsOf(o.runId).map((d) => d.name),
        [],
        `no machine left after a cancel at ${p.name}`,
      );
      assert.equal(fs.existsSync(keysOf(o.runId)), false, `no keys left after a cancel at ${p.name}`);
    }
    await waitFor('the hosts of cancelled runs to be gone', () => hook.hosts.size === 0);
  });

  test('without a cache the closure is copied over SSH and the machine switches to it', async () => {
    await set('cache.publicUrl', undefined);
    try {
      const o = await runToplevel({ payload: { kind: 'toplevel', storePath: closures.toplevel } });
      assert.ok(o.ok, `the run succeeded: ${failure(o)}`);
      assert.ok(stagesOf(o.events).includes('copy-closure'), stagesOf(o.events).join(' '));
      const host = hook.host('digitalocean', o.result.machine.id)!;
      assert.equal(fs.readFileSync(host.file('root/thebacknd-switches'), 'utf8'), `switched ${closures.toplevel}\n`);
      const userData = JSON.parse(fs.readFileSync(host.file('user-data'), 'utf8')) as { cache?: unknown };
      assert.equal(userData.cache, undefined, 'no cache in the user-data');
      await vscode.commands.executeCommand('thebacknd.machine.destroy', o.result.machine, undefined, { confirm: false });
      await waitFor('the machine and its keys to be gone', () => dropletsOf(o.runId).length === 0 && !fs.existsSync(o.result.keys.dir));
    } finally {
      await set('cache.publicUrl', cache.url);
    }
  });

  test('a program inside a store path runs on Hetzner, then the machine powers off and is reaped', async () => {
    // A job that outlives the first status poll (see the report: a program that ends before the run has seen its
    // machine running is reaped under it).
    const job = await cacheSlowJob();
    const o = await runToplevel({ payload: { kind: 'binary', storePath: path.dirname(path.dirname(job)), binary: job }, placement: { provider: 'hetzner' } });
    assert.ok(o.ok, `the run succeeded: ${failure(o)}`);
    assert.equal(o.result.outcome.poweredOff, true);
    assert.ok(
      o.timeline.some((t) => t.label.startsWith('Agent: The program exited with status 0')),
      o.timeline.map((t) => t.label).join('\n'),
    );
    const host = hook.host('hetzner', o.result.machine.id)!;
    assert.ok(fs.existsSync(host.file('root/slow-job-ran')), 'the program ran');
    await waitFor('the API to show the server off', () => emu.state.servers.get(Number(o.result.machine.id))?.status === 'off');
    await vscode.commands.executeCommand('thebacknd.destroyOld');
    await waitFor('the powered-off server to be reaped with its keys', () => !emu.state.servers.has(Number(o.result.machine.id)) && !fs.existsSync(o.result.keys.dir));
  });

  test('a missing prerequisite stops Run Toplevel before anything is created; Check Setup names it and its fix', async () => {
    await set('digitalocean.image', '999999');
    try {
      const created = emu.requests.filter((r) => r.method === 'POST').length;
      const o = (await vscode.commands.executeCommand('thebacknd.runToplevel', { payload: { kind: 'bare' }, placement: { provider: 'digitalocean' } })) as RunOutcome;
      assert.ok(!o.ok && !o.cancelled, 'the run stopped before it started');
      assert.match(
        o.message,
        /^Base image: The image 999999 \(thebacknd\.digitalocean\.image\) does not exist on DigitalOcean\. Import one, or fix thebacknd\.digitalocean\.image\.$/,
      );
      assert.deepEqual(o.timeline, []);
      assert.equal(emu.requests.filter((r) => r.method === 'POST').length, created, 'nothing was created');
      const results = (await vscode.commands.executeCommand('thebacknd.checkSetup', { quiet: true, provider: 'digitalocean' })) as {
        id: string;
        status: string;
        detail: string;
        fix?: { setting?: string; command?: string };
      }[];
      const image = results.find((r) => r.id === 'image')!;
      assert.equal(image.status, 'missing');
      assert.match(image.detail, /The image 999999 \(thebacknd\.digitalocean\.image\) does not exist on DigitalOcean/);
      assert.equal(image.fix?.setting, 'thebacknd.digitalocean.image');
      assert.equal(image.fix?.command, 'thebacknd.importImage');
    } finally {
      await set('digitalocean.image', undefined);
    }
  });

  test('every request the extension sent was on-spec', () => {
    assert.deepEqual(emu.violations, []);
    assert.deepEqual(emu.errors, []);
  });
});
