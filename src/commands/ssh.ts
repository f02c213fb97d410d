// Open Terminal, Show Boot Log, Open in Remote-SSH and Open Panel, for a machine node (menus), a Machine (the run,
// the panel) or nothing (the palette: a quick pick). A machine's keys are found by its run id in the key storage;
// a machine whose keys are not on this computer says so (src/ssh/machine-target.ts words it).

import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Ctx } from '../views/app';
import type { Machine } from '../providers/types';
import { keyOf } from '../machines/service';
import { UserError } from '../base/errors';
import { loadMachineKeys } from '../ssh/keys';
import { machineAddress, machineKeys, machineSshTarget } from '../ssh/machine-target';
import { writeKnownHosts } from '../ssh/known-hosts';
import { addInclude, defaultManagedConfigPath, defaultUserConfigPath, isIncluded, writeHostEntry } from '../ssh/remote-ssh-config';
import { byDeadline, machinePickRow } from '../views/present';
import { openSshTerminal } from '../views/terminal';
import type { MachinePanel } from '../views/machinePanel';

const REMOTE_SSH = 'ms-vscode-remote.remote-ssh';

/** The machine a command argument names (a tree node or a Machine), fresh from the list when it is listed. */
function machineOf(ctx: Ctx, node: unknown): Machine | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const ref = ('machine' in node ? (node as { machine: unknown }).machine : node) as Partial<Machine> | undefined;
  if (!ref?.provider || !ref.id) return undefined;
  const listed = ctx.machines.service.machines().find((m) => keyOf(m) === keyOf(ref as Machine));
  return listed ?? (ref.name ? (ref as Machine) : undefined);
}

/** Palette: the live machines whose keys are here (optionally running only). */
async function pick(ctx: Ctx, title: string, runningOnly: boolean): Promise<Machine | undefined> {
  const service = ctx.machines.service;
  const live = service.machines().filter((m) => m.runId && m.status !== 'destroying' && (!runningOnly || m.status === 'running'));
  const mine: Machine[] = [];
  for (const m of live) if (await loadMachineKeys(ctx.storageDir, m.runId!)) mine.push(m);
  if (!mine.length) {
    void vscode.window.showInformationMessage(
      live.length
        ? 'Thebacknd: none of the running machines was created from this computer, so none can be reached over SSH from here.'
        : 'Thebacknd: no machine is running. Run Toplevel… creates one.',
    );
    return undefined;
  }
  const items = byDeadline(mine.map((machine) => ({ machine, nowMs: service.serverNow(machine.provider) }))).map((c) => ({ ...machinePickRow(c), machine: c.machine }));
  return (await vscode.window.showQuickPick(items, { title, matchOnDescription: true }))?.machine;
}

async function target(ctx: Ctx, node: unknown, title: string, runningOnly: boolean): Promise<Machine | undefined> {
  return machineOf(ctx, node) ?? (node ? undefined : await pick(ctx, title, runningOnly));
}

/** A Pseudoterminal over ssh2 that only accepts the pinned host key. Returns the terminal. */
export async function openTerminal(ctx: Ctx, node?: unknown): Promise<vscode.Terminal | undefined> {
  const m = await target(ctx, node, 'Thebacknd: Open Terminal on which machine?', true);
  if (!m) return undefined;
  const sshTarget = await machineSshTarget(ctx.storageDir, m);
  await ctx.log('info', `Opening a terminal on ${m.name} (${sshTarget.host}), pinned host key ${sshTarget.hostPublicKey.split(' ')[1]?.slice(0, 16)}…`);
  return openSshTerminal({ name: m.name, target: sshTarget });
}

/** Follows the agent's log in an output channel; says what it waits for until SSH answers. */
export async function showBootLog(ctx: Ctx, node?: unknown): Promise<void> {
  const m = await target(ctx, node, 'Thebacknd: Show the boot log of which machine?', false);
  if (!m) return;
  const sshTarget = await machineSshTarget(ctx.storageDir, m);
  void ctx.runs.bootLogs.show(m.name, sshTarget);
}

export interface RemoteSshOptions {
  /** Answers the consent question for the Include line without asking (scripts and tests). */
  consent?: boolean;
  /** Files to use instead of ~/.ssh/thebacknd_config and ~/.ssh/config (tests). */
  managedFile?: string;
  userConfig?: string;
  /** false: write the entry only, do not open a window. */
  open?: boolean;
}

/**
 * Writes a Host entry (IdentityFile, and a UserKnownHostsFile holding the pinned key) to the managed ssh config,
 * asks before including that file from ~/.ssh/config, then opens a Remote-SSH window on the machine.
 * Returns the alias written.
 */
export async function openInRemoteSsh(ctx: Ctx, node?: unknown, _nodes?: unknown, options?: unknown): Promise<string | undefined> {
  const o = (options ?? {}) as RemoteSshOptions;
  const m = await target(ctx, node, 'Thebacknd: Open which machine in Remote-SSH?', true);
  if (!m) return undefined;
  const ip = machineAddress(m);
  const keys = await machineKeys(ctx.storageDir, m);
  const managed = o.managedFile ?? defaultManagedConfigPath();
  const userConfig = o.userConfig ?? defaultUserConfigPath();
  const knownHostsFile = await writeKnownHosts(keys, ip);
  await writeHostEntry({ alias: m.name, hostName: ip, identityFile: keys.loginKeyPath, knownHostsFile }, managed);
  ctx.runs.sshEntries.set(m.name, managed);
  await ctx.log('info', `Wrote the ssh Host entry ${m.name} (${ip}) to ${managed}.`);

  let included = await isIncluded(userConfig, managed);
  if (!included) {
    const consent = o.consent ?? (await askInclude(managed, userConfig));
    if (consent) {
      await addInclude(userConfig, managed);
      included = true;
      await ctx.log('info', `Added "Include ${managed}" to ${userConfig}.`);
    }
  }
  if (o.open === false) return m.name;
  const how = included ? `ssh ${m.name}` : `ssh -F "${managed}" ${m.name}`;
  if (!included || !vscode.extensions.getExtension(REMOTE_SSH)) {
    const why = included
      ? 'The Remote - SSH extension is not installed here'
      : `${tilde(userConfig)} does not include ${tilde(managed)}, so Remote-SSH cannot see the entry (its setting remote.SSH.configFile can point at it)`;
    const copy = 'Copy ssh Command';
    const a = await vscode.window.showInformationMessage(`Thebacknd: the Host entry ${m.name} is ready. ${why}; from a shell: ${how}`, copy);
    if (a === copy) await vscode.env.clipboard.writeText(how);
    return m.name;
  }
  await vscode.commands.executeCommand('vscode.newWindow', { remoteAuthority: `ssh-remote+${m.name}`, reuseWindow: false });
  return m.name;
}

async function askInclude(managed: string, userConfig: string): Promise<boolean> {
  const add = 'Add Include Line';
  const a = await vscode.window.showInformationMessage(
    `Add "Include ${tilde(managed)}" to ${tilde(userConfig)}?`,
    {
      modal: true,
      detail:
        `Thebacknd keeps the Host entries of its machines in ${tilde(managed)} and removes each one when its machine is destroyed. ` +
        `Remote-SSH and ssh read them only if ${tilde(userConfig)} includes that file. Nothing else in your config changes.`,
    },
    add,
  );
  return a === add;
}

function tilde(p: string): string {
  const home = os.homedir();
  return p.startsWith(home + path.sep) ? `~${p.slice(home.length)}` : p;
}

/** The machine's panel: stage timeline, live log, cost and countdown, and the buttons. Returns the panel. */
export async function openPanel(ctx: Ctx, node?: unknown): Promise<MachinePanel | undefined> {
  const runs = ctx.runs;
  const m = node ? machineOf(ctx, node) : await pickAny(ctx);
  if (!m) return undefined;
  // A machine not (or no longer) listed gets a panel only while this window's run still tracks it.
  const listed = ctx.machines.service.machines().some((x) => keyOf(x) === keyOf(m));
  if (!listed && !(m.runId && runs.models.has(m.runId))) throw new UserError(`${m.name} is not in the list of machines any more.`);
  return runs.panels.createOrShow(m);
}

async function pickAny(ctx: Ctx): Promise<Machine | undefined> {
  const service = ctx.machines.service;
  const live = service.machines().filter((m) => m.status !== 'destroying');
  if (!live.length) {
    void vscode.window.showInformationMessage('Thebacknd: no machine is running. Run Toplevel… creates one.');
    return undefined;
  }
  const items = byDeadline(live.map((machine) => ({ machine, nowMs: service.serverNow(machine.provider) }))).map((c) => ({ ...machinePickRow(c), machine: c.machine }));
  return (await vscode.window.showQuickPick(items, { title: 'Thebacknd: Open the panel of which machine?', matchOnDescription: true }))?.machine;
}
