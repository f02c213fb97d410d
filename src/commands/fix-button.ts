// The button an error's fix becomes beside its message (register.ts). vscode-free, so a plain test reads it.
import type { UserError } from '../base/errors';

export interface FixButton {
  label: string;
  /** A command id, run with `args` when the button is picked. */
  command: string;
  args?: unknown[];
}

/** setToken by what it names: a cloud's token, or the cache's key pair (S3 errors, an image upload without one). */
const SET_TOKEN: Readonly<Record<string, FixButton>> = {
  digitalocean: { label: 'Set Token…', command: 'thebacknd.setDigitalOceanToken' },
  hetzner: { label: 'Set Token…', command: 'thebacknd.setHetznerToken' },
  cache: { label: 'Set Cache Credentials…', command: 'thebacknd.setCacheCredentials' },
};

export function fixButton(fix: UserError['fix']): FixButton | undefined {
  switch (fix?.kind) {
    case 'setToken':
      // No provider named (or an unknown one): the prompt that asks which.
      return (fix.provider !== undefined && Object.hasOwn(SET_TOKEN, fix.provider) ? SET_TOKEN[fix.provider] : undefined) ?? { label: 'Set Token…', command: 'thebacknd.setToken' };
    case 'openSettings':
      return { label: 'Open Settings', command: 'workbench.action.openSettings', args: [fix.setting ?? 'thebacknd'] };
    case 'runCommand':
      return fix.command ? { label: fix.label ?? 'Fix', command: fix.command } : undefined;
    default:
      return undefined;
  }
}
