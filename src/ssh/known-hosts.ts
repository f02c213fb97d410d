// Pinning the machine's host key for every SSH client that is not ssh2: OpenSSH (Remote-SSH, a user's shell) reads
// a per-machine known_hosts file, Nix gets the key in the store URL / builders line (base64), as vps-worker does.
// A per-machine file means an IP reused by a later machine never meets a stale entry.

import { promises as fs } from 'node:fs';
import { isIPv6 } from 'node:net';
import { hostKeyBase64, normalizePublicKey, type MachineKeys } from './keys';

/** The host pattern OpenSSH looks up: `ip` on port 22, `[ip]:port` otherwise (IPv6 always bracketed then). */
export function knownHostsHost(ip: string, port = 22): string {
  return port === 22 ? ip : `[${ip}]:${port}`;
}

/** One known_hosts line: `<host> ssh-ed25519 AAAA…`. */
export function knownHostsLine(ip: string, hostPublicKey: string, port = 22): string {
  return `${knownHostsHost(ip, port)} ${normalizePublicKey(hostPublicKey)}`;
}

/** Writes the machine's known_hosts (0600), replacing any previous content. Returns its path. */
export async function writeKnownHosts(keys: MachineKeys, ip: string, port = 22): Promise<string> {
  const tmp = `${keys.knownHostsPath}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${knownHostsLine(ip, keys.hostPublicKey, port)}\n`, { mode: 0o600 });
  await fs.chmod(tmp, 0o600);
  await fs.rename(tmp, keys.knownHostsPath);
  return keys.knownHostsPath;
}

/** `root@1.2.3.4`, `root@[2001:db8::1]` (Nix ≥ 2.4 accepts and strips the brackets; newer Nix requires them). */
export function urlAuthority(ip: string, user = 'root'): string {
  return `${user}@${isIPv6(ip) ? `[${ip}]` : ip}`;
}

export interface StoreUrlOptions {
  /** `ssh` runs `nix-store --serve` remotely; `ssh-ng` talks to `nix-daemon --stdio` (needed for `nix copy` of
   *  content-addressed paths and for remote builds with newer features). */
  scheme?: 'ssh' | 'ssh-ng';
  user?: string;
  compress?: boolean;
}

/** `ssh://root@IP?compress=true&ssh-key=…&base64-ssh-public-host-key=…`: a Nix store URL that pins the host key. */
export function storeUrl(ip: string, keys: Pick<MachineKeys, 'loginKeyPath' | 'hostPublicKey'>, opts: StoreUrlOptions = {}): string {
  // Percent-encoding, not URLSearchParams: Nix decodes %20 but would keep a `+` (a space in the key path).
  const query: [string, string][] = [];
  if (opts.compress ?? true) query.push(['compress', 'true']);
  query.push(['ssh-key', keys.loginKeyPath], ['base64-ssh-public-host-key', hostKeyBase64(keys.hostPublicKey)]);
  const qs = query.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  return `${opts.scheme ?? 'ssh'}://${urlAuthority(ip, opts.user)}?${qs}`;
}

export interface BuilderOptions {
  /** Column 2, e.g. `['x86_64-linux']`. */
  systems: string[];
  /** Column 4: parallel jobs on the builder (its CPU count). */
  maxJobs: number;
  /** Column 5; `-` leaves Nix's default (1). */
  speedFactor?: number;
  /** Column 6, e.g. `['nixos-test', 'benchmark', 'big-parallel']`. */
  supportedFeatures?: string[];
  /** Column 7. */
  mandatoryFeatures?: string[];
  scheme?: 'ssh' | 'ssh-ng';
  user?: string;
}

/**
 * One line of Nix's `builders` setting, 8 columns: URL, systems, SSH key, max jobs, speed factor, supported
 * features, mandatory features, base64 host key. The URL carries no query (key and host key have their columns;
 * vps-worker notes a long URL breaks the lock-file path).
 */
export function builderLine(ip: string, keys: Pick<MachineKeys, 'loginKeyPath' | 'hostPublicKey'>, opts: BuilderOptions): string {
  if (opts.systems.length === 0) throw new Error('a builder needs at least one system');
  if (!Number.isInteger(opts.maxJobs) || opts.maxJobs < 1) throw new Error('maxJobs must be a positive integer');
  if (/\s/.test(keys.loginKeyPath)) throw new Error('the builder key path must not contain spaces (Nix splits builder lines on them)');
  const list = (xs: string[] | undefined): string => (xs && xs.length > 0 ? xs.join(',') : '-');
  return [
    `${opts.scheme ?? 'ssh'}://${urlAuthority(ip, opts.user)}`,
    opts.systems.join(','),
    keys.loginKeyPath,
    String(opts.maxJobs),
    opts.speedFactor === undefined ? '-' : String(opts.speedFactor),
    list(opts.supportedFeatures),
    list(opts.mandatoryFeatures),
    hostKeyBase64(keys.hostPublicKey),
  ].join(' ');
}
