// Host entries for VS Code Remote-SSH (and a plain `ssh thebacknd-3`). They live in a file the extension owns
// (~/.ssh/thebacknd_config); the user's ~/.ssh/config is only touched, with one `Include` line, when the user agrees.
// Each entry pins the machine's host key through its own known_hosts file.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface HostEntry {
  /** The Host alias, e.g. `thebacknd-3`. */
  alias: string;
  hostName: string;
  port?: number;
  user?: string;
  identityFile: string;
  /** The machine's known_hosts (see writeKnownHosts), holding the pinned key. */
  knownHostsFile: string;
}

export function defaultManagedConfigPath(home = os.homedir()): string {
  return path.join(home, '.ssh', 'thebacknd_config');
}

export function defaultUserConfigPath(home = os.homedir()): string {
  return path.join(home, '.ssh', 'config');
}

const BEGIN = (alias: string): string => `# thebacknd:begin ${alias}`;
const END = (alias: string): string => `# thebacknd:end ${alias}`;

/** The Host block for one machine. Values are quoted: global storage paths contain spaces on macOS and Windows. */
export function hostBlock(e: HostEntry): string {
  checkAlias(e.alias);
  for (const [k, v] of Object.entries({ hostName: e.hostName, identityFile: e.identityFile, knownHostsFile: e.knownHostsFile })) {
    if (/["\r\n]/.test(v)) throw new Error(`${k} cannot be written to an ssh config: ${JSON.stringify(v)}`);
  }
  return [
    BEGIN(e.alias),
    `Host ${e.alias}`,
    `  HostName ${e.hostName}`,
    ...(e.port && e.port !== 22 ? [`  Port ${e.port}`] : []),
    `  User ${e.user ?? 'root'}`,
    `  IdentityFile ${quote(e.identityFile)}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${quote(e.knownHostsFile)}`,
    '  StrictHostKeyChecking yes',
    '  UpdateHostKeys no',
    END(e.alias),
  ].join('\n');
}

/** Adds or replaces the machine's entry in the managed file (created 0600, in a 0700 folder if new). */
export async function writeHostEntry(entry: HostEntry, managedFile = defaultManagedConfigPath()): Promise<void> {
  const blocks = withoutBlock(await readOr(managedFile, ''), entry.alias);
  blocks.push(hostBlock(entry));
  await writeConfig(managedFile, blocks);
}

/** Removes the machine's entry; no file or no entry is fine. */
export async function removeHostEntry(alias: string, managedFile = defaultManagedConfigPath()): Promise<boolean> {
  checkAlias(alias);
  const text = await readOr(managedFile, undefined);
  if (text === undefined) return false;
  const kept = withoutBlock(text, alias);
  if (kept.length === splitBlocks(text).length) return false;
  await writeConfig(managedFile, kept);
  return true;
}

/** The aliases present in the managed file. */
export async function listHostEntries(managedFile = defaultManagedConfigPath()): Promise<string[]> {
  const text = await readOr(managedFile, '');
  return [...text.matchAll(/^# thebacknd:begin (\S+)$/gm)].map((m) => m[1]!);
}

/** Whether the user's ssh config already includes the managed file. */
export async function isIncluded(userConfig = defaultUserConfigPath(), managedFile = defaultManagedConfigPath()): Promise<boolean> {
  const text = await readOr(userConfig, '');
  // ssh resolves a relative Include of a user config against ~/.ssh.
  return includeLines(text).some((arg) => path.resolve(path.dirname(userConfig), arg) === path.resolve(managedFile));
}

/**
 * Adds `Include <managed file>` at the top of the user's ssh config (an Include below a Host line would only apply
 * to that host). Call only after the user agreed. Returns false when it was already there.
 */
export async function addInclude(userConfig = defaultUserConfigPath(), managedFile = defaultManagedConfigPath()): Promise<boolean> {
  if (await isIncluded(userConfig, managedFile)) return false;
  const before = await readOr(userConfig, undefined);
  const header = `# Added by Thebacknd: host entries of its machines (removed when a machine is destroyed).\nInclude ${quote(managedFile)}\n`;
  const text = before === undefined ? header : `${header}\n${before}`;
  await fs.mkdir(path.dirname(userConfig), { recursive: true, mode: 0o700 });
  const mode = before === undefined ? 0o600 : (await fs.stat(userConfig)).mode & 0o777;
  await atomicWrite(userConfig, text, mode);
  return true;
}

function checkAlias(alias: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(alias)) throw new Error(`invalid host alias: ${JSON.stringify(alias)}`);
}

function quote(v: string): string {
  return `"${v}"`;
}

/** The managed file is a sequence of marked blocks; anything else in it is dropped on rewrite. */
function splitBlocks(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^# thebacknd:begin (\S+)\n[\s\S]*?^# thebacknd:end \1$/gm)) out.push(m[0]);
  return out;
}

function withoutBlock(text: string, alias: string): string[] {
  return splitBlocks(text).filter((b) => !b.startsWith(`${BEGIN(alias)}\n`));
}

async function writeConfig(file: string, blocks: string[]): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const header = '# Managed by Thebacknd: one entry per machine, removed when the machine is destroyed. Do not edit.\n';
  await atomicWrite(file, header + blocks.map((b) => `\n${b}\n`).join(''), 0o600);
}

async function atomicWrite(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await fs.writeFile(tmp, text, { mode });
  await fs.chmod(tmp, mode);
  await fs.rename(tmp, file);
}

async function readOr<T>(file: string, fallback: T): Promise<string | T> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw err;
  }
}

/** Arguments of every `Include` line (quotes removed, `~` expanded). */
function includeLines(text: string): string[] {
  const args: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*include\s*(?:=\s*|\s)(.*)$/i.exec(line);
    if (!m) continue;
    for (const a of m[1]!.match(/"[^"]*"|\S+/g) ?? []) args.push(a.replace(/^"|"$/g, '').replace(/^~(?=\/|$)/, os.homedir()));
  }
  return args;
}
