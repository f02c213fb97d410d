// Import Base Image's default file: result/nixos.qcow2.gz as ./nix builds it, or the one image NixOS >= 24.11 names
// nixos-image-digital-ocean-<label>-<system>.qcow2.gz when a flake does not set image.baseName.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultImagePath, findImageFile } from '../../../src/image';

function folder(t: { after(fn: () => void): void }, files: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-imgfiles-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), 'x');
  }
  return dir;
}

test('the default DigitalOcean image is result/nixos.qcow2.gz when ./nix built it', (t) => {
  const dir = folder(t, ['result/nixos.qcow2.gz']);
  assert.equal(findImageFile(defaultImagePath(dir, 'digitalocean'), 'digitalocean'), path.join(dir, 'result', 'nixos.qcow2.gz'));
});

test('the default DigitalOcean image is the NixOS >= 24.11 name when that is what result/ holds', (t) => {
  const name = 'nixos-image-digital-ocean-25.11.20251130.a1b2c3d-x86_64-linux.qcow2.gz';
  const dir = folder(t, [`result/${name}`, 'result/nix-support/hydra-build-products']);
  assert.equal(findImageFile(defaultImagePath(dir, 'digitalocean'), 'digitalocean'), path.join(dir, 'result', name));
});

test('with no build output the default is the documented path, and the error says how to build it', (t) => {
  const dir = folder(t, []);
  const p = defaultImagePath(dir, 'digitalocean');
  assert.equal(p, path.join(dir, 'result', 'nixos.qcow2.gz'));
  assert.throws(() => findImageFile(p, 'digitalocean'), /No image at .*: build it first \(nix build \.\/nix#digitalocean-image\)/);
});
