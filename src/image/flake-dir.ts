// Where the image flake shipped with Thebacknd is: the nix/ folder next to dist/ (the CLI and the extension bundles)
// or above out/ (compiled tests).

import fs from 'node:fs';
import path from 'node:path';

export function shippedFlakeDir(from = __dirname): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'nix', 'flake.nix')) && fs.existsSync(path.join(dir, 'nix', 'module.nix'))) return path.join(dir, 'nix');
    if (path.dirname(dir) === dir) return undefined;
  }
}
