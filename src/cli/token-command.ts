// Tokens from a command, as vps-worker's `tokenCmd` (e.g. a password manager: `pass show hetzner/api`): --token-command
// CMD with --provider, or the settings $THEBACKND_DO_TOKEN_COMMAND / $THEBACKND_HCLOUD_TOKEN_COMMAND, used when the
// token's own variable is unset. The command runs through /bin/sh with this terminal as its stdin and stderr (so it
// can ask for a passphrase); its stdout is the token, which is never printed, logged or put in an error message.
import { execFileSync } from 'node:child_process';
import { UserError } from '../base/errors';
import { PROVIDER_LABEL } from '../base/tokens';
import type { ProviderId } from '../providers/types';

export const TOKEN_COMMAND_ENV: Record<ProviderId, string> = {
  digitalocean: 'THEBACKND_DO_TOKEN_COMMAND',
  hetzner: 'THEBACKND_HCLOUD_TOKEN_COMMAND',
};

/** A password manager may wait for a passphrase; past this, it is stuck. */
const TIMEOUT_MS = 5 * 60_000;

export function runTokenCommand(provider: ProviderId, command: string, env: NodeJS.ProcessEnv): string {
  const what = `The ${PROVIDER_LABEL[provider]} token command`;
  let out: string;
  try {
    out = execFileSync('/bin/sh', ['-c', command], { stdio: ['inherit', 'pipe', 'inherit'], encoding: 'utf8', env, timeout: TIMEOUT_MS, maxBuffer: 64 * 1024 });
  } catch (e) {
    // The error carries the command's stdout (possibly the token): only its status is reported.
    const { status, signal, code } = e as { status?: number | null; signal?: string | null; code?: string };
    const why = typeof status === 'number' ? `exit status ${status}` : (signal ?? code ?? 'failed');
    throw new UserError(`${what} failed (${why}); its output is not shown.`);
  }
  const token = out.trim();
  if (!token) throw new UserError(`${what} printed nothing: it should print the token alone.`);
  if (/\s/.test(token)) throw new UserError(`${what} printed more than one word: it should print the token alone (its output is not shown).`);
  return token;
}
