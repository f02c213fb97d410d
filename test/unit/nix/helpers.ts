// Shared by the nix tests: an environment for Debian's Nix 2.8 running as root without a daemon, and a private copy
// of a test flake (outside the Git work tree, where Nix would only see committed files).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../../../..');

export interface TempFlake {
  dir: string;
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

export function nixTestEnv(home: string, extraConfig = ''): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOME: home,
    XDG_CACHE_HOME: path.join(home, 'cache'),
    NIX_CONFIG: ['build-users-group =', 'substituters =', 'sandbox = false', 'experimental-features = nix-command flakes', extraConfig].join('\n'),
  };
}

export function tempFlake(name = 'chain'): TempFlake {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-flake-'));
  const dir = path.join(tmp, 'flake');
  fs.cpSync(path.join(ROOT, 'test/fixtures/flakes', name), dir, { recursive: true });
  const home = path.join(tmp, 'home');
  fs.mkdirSync(home);
  return { dir, env: nixTestEnv(home), cleanup: () => fs.rmSync(tmp, { recursive: true, force: true }) };
}
