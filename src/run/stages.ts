// The run's stages in words, for the CLI's stderr, a progress notification or the machine panel's timeline.

import type { RunEvent, Stage } from './types';

export const STAGE_TITLES: Record<Stage, string> = {
  build: 'Build',
  sign: 'Sign',
  push: 'Push to the cache',
  keys: 'Generate keys',
  create: 'Create the machine',
  'wait-running': 'Wait until running',
  'wait-ssh': 'Wait for SSH (pinned host key)',
  credentials: 'Send the cache credentials',
  'copy-closure': 'Copy the closure over SSH',
  boot: 'Boot and switch',
  ready: 'Ready',
  cleanup: 'Clean up',
};

/** One sentence for a stage event. */
export function describeStage(stage: Stage, detail?: string): string {
  const d = detail ?? '';
  switch (stage) {
    case 'build':
      return `Building ${d}`;
    case 'sign':
      return `Signing the closure of ${d}`;
    case 'push':
      return `Pushing the closure of ${d} to the binary cache`;
    case 'keys':
      return "Generating the machine's login key and host key";
    case 'create':
      return `Creating the machine (${d})`;
    case 'wait-running':
      return `Waiting until ${d} is running`;
    case 'wait-ssh':
      return `Waiting for SSH on ${d} with the pinned host key`;
    case 'credentials':
      return 'Sending the cache read credentials over SSH';
    case 'copy-closure':
      return `Copying the closure of ${d} over SSH`;
    case 'boot':
      return "Following the machine's boot log";
    case 'ready':
      return `${d} is ready`;
    case 'cleanup':
      return `Cleaning up ${d}`;
  }
}

/** A line for a text log (CLI, output channel); undefined for events that are not text. */
export function eventLine(e: RunEvent): string | undefined {
  if (e.type === 'stage') return `[${e.at.toISOString().slice(11, 19)}] ${describeStage(e.stage, e.detail)}`;
  if (e.type === 'log') return e.line;
  if (e.type === 'progress') return `  ${e.message}`;
  return undefined;
}
