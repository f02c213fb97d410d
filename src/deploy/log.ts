// The machine-side deploy's stage lines (nix/agent/thebacknd-deploy.sh), in the agent's `thebacknd: stage=…`
// format, read with the agent's own field parser.

import { parseFields, ratio } from '../agent/log';

export type DeployLine =
  | { stage: 'started'; id: string; log: string }
  | { stage: 'deploy'; toplevel: string; previous: string | undefined }
  | { stage: 'fetch'; paths: string; bytesTotal: number | undefined }
  | { stage: 'armed'; wait: string }
  | { stage: 'rollback'; reason: string }
  | { stage: 'done'; result: 'switched' | 'confirmed'; toplevel: string }
  | { stage: 'rolled-back'; reason: string; message: string; toplevel: string }
  | { stage: 'failed'; reason: string; message: string }
  | { stage: 'other'; name: string };

export function parseDeployLine(line: string): DeployLine | undefined {
  const f = parseFields(line);
  if (!f) return undefined;
  switch (f.stage) {
    case 'started':
      return { stage: 'started', id: f.id ?? '', log: f.log ?? '' };
    case 'deploy':
      return { stage: 'deploy', toplevel: f.toplevel ?? '', previous: f.previous && f.previous !== 'none' ? f.previous : undefined };
    case 'fetch':
      return { stage: 'fetch', paths: f.paths ?? '', bytesTotal: ratio(f.bytes)[1] };
    case 'armed':
      return { stage: 'armed', wait: f.wait ?? '' };
    case 'rollback':
      return { stage: 'rollback', reason: f.reason ?? '' };
    case 'done':
      return { stage: 'done', result: f.result === 'confirmed' ? 'confirmed' : 'switched', toplevel: f.toplevel ?? '' };
    case 'rolled-back':
      return { stage: 'rolled-back', reason: f.reason ?? '', message: f.message ?? '', toplevel: f.toplevel ?? '' };
    case 'failed':
      return { stage: 'failed', reason: f.reason ?? 'unknown', message: f.message ?? '' };
    default:
      return { stage: 'other', name: f.stage ?? '' };
  }
}

/** After one of these the machine-side deploy prints nothing more. */
export function isDeployTerminal(l: DeployLine): boolean {
  return l.stage === 'done' || l.stage === 'rolled-back' || l.stage === 'failed';
}
