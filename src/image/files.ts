// Which file to import: the build output of `nix build ./nix#<cloud>-image`, or the image file itself.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../base/errors';
import type { ProviderId } from '../providers/types';

const KINDS: Record<ProviderId, { pattern: RegExp; what: string; build: string }> = {
  digitalocean: {
    pattern: /\.qcow2(\.gz|\.bz2)?$/,
    what: 'a DigitalOcean image (a .qcow2, .qcow2.gz or .qcow2.bz2 file)',
    build: 'nix build ./nix#digitalocean-image',
  },
  hetzner: {
    pattern: /\.img(\.zst)?$/,
    what: 'a Hetzner disk image (a raw .img or a zstd-compressed .img.zst file)',
    build: 'nix build ./nix#hetzner-image',
  },
};

/** The default file in a workspace: what `nix build ./nix#<cloud>-image` leaves in `result/`. */
export const DEFAULT_IMAGE_FILE: Record<ProviderId, string> = {
  digitalocean: path.join('result', 'nixos.qcow2.gz'),
  hetzner: path.join('result', 'nixos.img.zst'),
};

/**
 * The image in a folder's build output: result/nixos.* (what ./nix names it), else the one image file in result/
 * (NixOS >= 24.11 names it nixos-image-digital-ocean-<label>-<system>.qcow2.gz unless image.baseName is set).
 */
export function defaultImagePath(folder: string, provider: ProviderId): string {
  const fixed = path.join(folder, DEFAULT_IMAGE_FILE[provider]);
  if (fs.existsSync(fixed)) return fixed;
  const dir = path.dirname(fixed);
  let found: string[] = [];
  try {
    found = fs.readdirSync(dir).filter((f) => KINDS[provider].pattern.test(f));
  } catch {
    /* no build output: the fixed name, which findImageFile explains */
  }
  return found.length === 1 ? path.join(dir, found[0] as string) : fixed;
}

/** The image file itself, or the one inside a build output directory. */
export function findImageFile(p: string, provider: ProviderId): string {
  const kind = KINDS[provider];
  let stat: fs.Stats;
  try {
    stat = fs.statSync(p);
  } catch {
    throw new UserError(`No image at ${p}: build it first (${kind.build}).`);
  }
  if (stat.isFile()) {
    if (!kind.pattern.test(p)) throw new UserError(`${path.basename(p)} is not ${kind.what}.`);
    return p;
  }
  const found = fs.readdirSync(p).filter((f) => kind.pattern.test(f));
  if (found.length !== 1) throw new UserError(`Expected one image file in ${p}, found ${found.length}: build it with ${kind.build}.`);
  return path.join(p, found[0] as string);
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** A .zst file that is not zstd would only fail on the far side, after a server was made for it. */
export function checkZstd(file: string): void {
  const head = Buffer.alloc(4);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, 4, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (!head.equals(ZSTD_MAGIC)) throw new UserError(`${path.basename(file)} is not zstd-compressed (wrong magic number): rebuild it or rename it.`);
}
