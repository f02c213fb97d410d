// Per-machine SSH keys, generated locally (vps-worker's way): a login key pair and the machine's own host key pair.
// The host private key travels to the machine in its user-data and is never written here; its public half is
// pinned, so the very first connection is already verified. Key files live in one directory per machine
// (mode 0700, files 0600) under the extension's global storage and go away with the machine.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { generateEd25519 } from '../base/ed25519';
import { UserError } from '../base/errors';

/** What is on disk for one machine, plus (right after creation only) the host private key for its user-data. */
export interface MachineKeys {
  /** The machine's key directory. */
  dir: string;
  /** Path of the login private key (0600): `ssh -i`, Nix `ssh-key=`, Remote-SSH `IdentityFile`. */
  loginKeyPath: string;
  /** `ssh-ed25519 AAAA…` for the machine's authorized keys. */
  loginPublicKey: string;
  /** The pinned host key, `ssh-ed25519 AAAA…`. */
  hostPublicKey: string;
  /** Where `writeKnownHosts` puts the pinned entry once the machine's address is known. */
  knownHostsPath: string;
}

export interface NewMachineKeys extends MachineKeys {
  /** The host private key, in memory only: put it in the user-data and drop it. */
  hostPrivateKey: string;
}

const LOGIN_KEY = 'login_ed25519';
const HOST_PUB = 'host_ed25519.pub';
const KNOWN_HOSTS = 'known_hosts';

/** `<storageDir>/machines/<id>`; the id (a run id like `thebacknd-<uuid>`) must be a plain name. */
export function machineKeyDir(storageDir: string, id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)) throw new Error(`invalid machine key id: ${JSON.stringify(id)}`);
  return path.join(storageDir, 'machines', id);
}

/** Generates and stores a fresh login key and host key for one machine. Fails if that machine already has keys. */
export async function createMachineKeys(storageDir: string, id: string): Promise<NewMachineKeys> {
  const dir = machineKeyDir(storageDir, id);
  await fs.mkdir(path.dirname(dir), { recursive: true, mode: 0o700 });
  try {
    await fs.mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`keys for ${id} already exist`);
    throw err;
  }
  try {
    await fs.chmod(dir, 0o700); // mkdir's mode is filtered by the umask
    const login = generateEd25519(`${id}-login`);
    const host = generateEd25519(`${id}-host`);
    const keys = paths(dir);
    await writeSecret(keys.loginKeyPath, login.privateKey);
    await writeSecret(`${keys.loginKeyPath}.pub`, `${login.publicKey}\n`);
    await writeSecret(path.join(dir, HOST_PUB), `${host.publicKey}\n`);
    return { ...keys, loginPublicKey: login.publicKey, hostPublicKey: host.publicKey, hostPrivateKey: host.privateKey };
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The stored keys of one machine, or undefined when it has none (created elsewhere, or already removed). */
export async function loadMachineKeys(storageDir: string, id: string): Promise<MachineKeys | undefined> {
  const dir = machineKeyDir(storageDir, id);
  const keys = paths(dir);
  try {
    const [loginPublicKey, hostPublicKey] = await Promise.all([
      fs.readFile(`${keys.loginKeyPath}.pub`, 'utf8'),
      fs.readFile(path.join(dir, HOST_PUB), 'utf8'),
      fs.access(keys.loginKeyPath),
    ]);
    return { ...keys, loginPublicKey: loginPublicKey.trim(), hostPublicKey: hostPublicKey.trim() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Like loadMachineKeys, but a missing key directory is a UserError that says why SSH is not possible. */
export async function requireMachineKeys(storageDir: string, id: string, name = id): Promise<MachineKeys> {
  const keys = await loadMachineKeys(storageDir, id);
  if (!keys) {
    throw new UserError(`${name} has no SSH key on this computer (it was created elsewhere, or its keys were removed); SSH to it is not possible from here.`);
  }
  return keys;
}

/** The login private key, for ssh2. */
export function readLoginKey(keys: MachineKeys): Promise<string> {
  return fs.readFile(keys.loginKeyPath, 'utf8');
}

/** Deletes one machine's keys; a machine without keys is fine. */
export async function removeMachineKeys(storageDir: string, id: string): Promise<void> {
  await fs.rm(machineKeyDir(storageDir, id), { recursive: true, force: true });
}

/** Ids that have a key directory. */
export async function listMachineKeyIds(storageDir: string): Promise<string[]> {
  try {
    const entries = await fs.readdir(path.join(storageDir, 'machines'), { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Removes the keys of machines that no longer exist (destroyed by the reaper or another window). */
export async function pruneMachineKeys(storageDir: string, liveIds: Iterable<string>): Promise<string[]> {
  const live = new Set(liveIds);
  const gone = (await listMachineKeyIds(storageDir)).filter((id) => !live.has(id));
  for (const id of gone) await removeMachineKeys(storageDir, id);
  return gone;
}

/** `ssh-ed25519 AAAA…` with any comment dropped; throws on anything else. */
export function normalizePublicKey(line: string): string {
  const [type, blob] = line.trim().split(/\s+/);
  if (type !== 'ssh-ed25519' || !blob || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) {
    throw new Error('not an OpenSSH ed25519 public key');
  }
  return `${type} ${blob}`;
}

/** The raw key blob (what an SSH server sends as its host key), from `ssh-ed25519 AAAA…`. */
export function publicKeyBlob(line: string): Buffer {
  return Buffer.from(normalizePublicKey(line).split(' ')[1]!, 'base64');
}

/** Base64 of the public key line, as Nix's `base64-ssh-public-host-key` and builders column 8 expect. */
export function hostKeyBase64(hostPublicKey: string): string {
  return Buffer.from(normalizePublicKey(hostPublicKey)).toString('base64');
}

function paths(dir: string): Omit<MachineKeys, 'loginPublicKey' | 'hostPublicKey'> {
  return { dir, loginKeyPath: path.join(dir, LOGIN_KEY), knownHostsPath: path.join(dir, KNOWN_HOSTS) };
}

/** Creates a file readable by its owner only, whatever the umask. */
export async function writeSecret(file: string, data: string): Promise<void> {
  await fs.writeFile(file, data, { mode: 0o600, flag: 'wx' });
  await fs.chmod(file, 0o600);
}
