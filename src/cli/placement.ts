// Where a machine goes and where its keys live, as `thebacknd run` and `thebacknd build --workers` take them: one
// option table, one provider check, one state folder, so that both commands parse them alike.
import os from 'node:os';
import path from 'node:path';
import { PROVIDERS } from '../base/tokens';
import type { ProviderId } from '../providers/types';

/** The base image, when --image is not given. */
export const IMAGE_ENV: Record<ProviderId, string> = { digitalocean: 'THEBACKND_DO_IMAGE', hetzner: 'THEBACKND_HCLOUD_IMAGE' };

/** --provider, --token-file and --endpoint are global (main parses them for every command). */
export const PLACEMENT_OPTIONS = {
  region: { type: 'string' },
  size: { type: 'string' },
  image: { type: 'string' },
  'keep-on-failure': { type: 'boolean' },
  flake: { type: 'string' },
  'state-dir': { type: 'string' },
} as const;

/** Why --provider is not usable, or undefined when it is (or is not given). */
export function providerProblem(provider: string | undefined): string | undefined {
  return provider === undefined || (PROVIDERS as readonly string[]).includes(provider) ? undefined : `--provider must be one of ${PROVIDERS.join(', ')} (got "${provider}").`;
}

/** Where the CLI keeps per-machine keys (the extension uses its global storage). */
export function cliStateDir(env: NodeJS.ProcessEnv, flag?: string): string {
  if (flag) return path.resolve(flag);
  if (env.THEBACKND_STATE_DIR) return path.resolve(env.THEBACKND_STATE_DIR);
  const base = env.XDG_STATE_HOME || path.join(env.HOME || os.homedir(), '.local', 'state');
  return path.join(base, 'thebacknd');
}
