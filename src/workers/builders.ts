// Workers as Nix remote builders: one 8-column `builders` line per worker, each carrying the worker's host key in
// base64 so that Nix's ssh is pinned to it (no known_hosts lookup, no trust-on-first-use), as vps-worker does.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../base/errors';
import { builderLine, storeUrl, urlAuthority } from '../ssh/known-hosts';
import type { MachineKeys } from '../ssh/keys';
import type { ProviderId } from '../providers/types';

/** Column 6: what a cloud VM can build (no `kvm`: neither cloud offers nested virtualisation on these types). */
export const WORKER_FEATURES = ['nixos-test', 'benchmark', 'big-parallel'];

/** Column 2 for a server type: Hetzner's `cax*` types are Arm (Ampere), everything else here is x86-64. */
export function systemsFor(provider: ProviderId, size: string): string[] {
  if (provider === 'hetzner' && /^cax/i.test(size)) return ['aarch64-linux'];
  return ['x86_64-linux', 'i686-linux'];
}

export interface BuilderInput {
  ip: string;
  keys: Pick<MachineKeys, 'hostPublicKey'>;
  builderKeyPath: string;
}

export function workerBuilderLine(w: BuilderInput, systems: string[], maxJobs: number): string {
  return builderLine(
    w.ip,
    { loginKeyPath: w.builderKeyPath, hostPublicKey: w.keys.hostPublicKey },
    {
      systems,
      maxJobs: Math.max(1, Math.floor(maxJobs)),
      supportedFeatures: WORKER_FEATURES,
    },
  );
}

/** The `--builders` value: the lines joined by `;` (Nix accepts `;` and newlines). */
export function buildersValue(lines: readonly string[]): string {
  return lines.join(' ; ');
}

/** `ssh://root@IP?compress=true&ssh-key=…&base64-ssh-public-host-key=…`, for `nix copy` and `nix store ping`. */
export function workerStoreUrl(w: { ip: string; keys: Pick<MachineKeys, 'loginKeyPath' | 'hostPublicKey'> }): string {
  return storeUrl(w.ip, w.keys);
}

/** The URI Nix names a builder by in its log (`building '…' on 'ssh://root@IP'`). */
export function builderUri(ip: string): string {
  return `ssh://${urlAuthority(ip)}`;
}

const BUILDING_ON = /^building '([^']+)' on '([^']+)'/;

/** `building '/nix/store/…drv' on 'ssh://root@IP'...` → the derivation and the builder URI. */
export function parseBuildingOn(line: string): { drv: string; uri: string } | undefined {
  const m = BUILDING_ON.exec(line);
  return m ? { drv: m[1]!, uri: m[2]! } : undefined;
}

/** A daemon that does not trust the user drops `--builders` and says so; the build then cannot run anywhere. */
export function isIgnoredBuilders(line: string): boolean {
  return /ignoring the (client-specified|user-specified) setting '(builders|builders-use-substitutes)'/.test(line);
}

export const UNTRUSTED_HINT =
  'Your Nix daemon ignored --builders because your user is not trusted: add `trusted-users = root <your user>` to ' +
  '/etc/nix/nix.conf (NixOS: nix.settings.trusted-users) and restart nix-daemon, then build again.';

/**
 * Nix splits builder lines on whitespace, so the key column cannot hold a path with a space (VS Code's global
 * storage on macOS is under "Application Support"). Such a key is reached through a symlink in a private folder
 * under the temp dir; ssh follows it and checks the target's permissions. Returns the path to put in column 3.
 */
export function builderKeyPath(keys: Pick<MachineKeys, 'loginKeyPath'>, runId: string): Promise<string> {
  return spaceFreePath(keys.loginKeyPath, runId, 'login');
}

/** `file` itself when its path has no whitespace, else a symlink to it named `name` in the run's private folder. */
export async function spaceFreePath(file: string, runId: string, name: string): Promise<string> {
  if (!/\s/.test(file)) return file;
  const dir = linkDir(runId);
  if (/\s/.test(dir)) throw new UserError(`The temporary folder ${os.tmpdir()} has a space in its path, which Nix builder lines cannot carry: set TMPDIR to a folder without one.`);
  await fs.mkdir(path.dirname(dir), { recursive: true, mode: 0o700 });
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.chmod(dir, 0o700);
  const link = path.join(dir, name);
  await fs.rm(link, { force: true });
  await fs.symlink(file, link);
  return link;
}

/** Removes the symlink folder spaceFreePath may have made. */
export async function removeBuilderKeyLink(runId: string): Promise<void> {
  const dir = linkDir(runId);
  await fs.rm(dir, { recursive: true, force: true });
  await fs.rmdir(path.dirname(dir)).catch(() => undefined); // only when no other run uses it
}

function linkDir(runId: string): string {
  const uid = typeof process.getuid === 'function' ? String(process.getuid()) : 'user';
  return path.join(os.tmpdir(), `thebacknd-keys-${uid}`, runId);
}
