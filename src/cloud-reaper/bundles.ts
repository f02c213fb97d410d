// The action code deploy uploads: the esbuild bundles of src/cloud-reaper/entries/ (scripts/build.mjs writes them
// to dist/reaper/). Found next to the running bundle (dist/cli.js, dist/extension.js) or above compiled sources.

import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../base/errors';

export const REAPER_ACTIONS = ['list', 'destroy-old', 'destroy-all', 'destroy-self'] as const;
export type ReaperActionName = (typeof REAPER_ACTIONS)[number];
export type ReaperCode = Record<ReaperActionName, string>;

export function findReaperBundles(from: string = __dirname): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    for (const candidate of [path.join(dir, 'reaper'), path.join(dir, 'dist', 'reaper')]) {
      if (REAPER_ACTIONS.every((a) => fs.existsSync(path.join(candidate, `${a}.js`)))) return candidate;
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

export function loadReaperCode(dir: string | undefined = findReaperBundles()): ReaperCode {
  if (!dir) throw new UserError("The cloud reaper's action bundles are missing (dist/reaper/): run `npm run build`.");
  const out = {} as ReaperCode;
  for (const a of REAPER_ACTIONS) out[a] = fs.readFileSync(path.join(dir, `${a}.js`), 'utf8');
  return out;
}
