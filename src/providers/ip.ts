// Addresses from a cloud API are data: they end up in known_hosts lines, store URLs (ssh-ng://root@IP) and the
// worker shell's `$ssh`, so anything but a plain IP literal (a host name, an option, a space, a zone id) is dropped.
import { isIPv4, isIPv6 } from 'node:net';

export function ipv4Literal(v: unknown): string | undefined {
  return typeof v === 'string' && isIPv4(v) ? v : undefined;
}

export function ipv6Literal(v: unknown): string | undefined {
  return typeof v === 'string' && !v.includes('%') && isIPv6(v) ? v : undefined;
}
