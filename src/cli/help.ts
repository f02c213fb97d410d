// The help main prints: the command list for `thebacknd --help`, one command's usage for `thebacknd <command> --help`.
import { TOKEN_ENV } from '../base/tokens';
import type { CommandSpec } from './command';
import { ENDPOINT_ENV } from './context';

export function help(all: readonly CommandSpec[]): string {
  const width = Math.max(...all.map((c) => c.name.length));
  const commands = all.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n');
  return `Usage: thebacknd [options] <command> [arguments]

Turns a Nix flake into a disposable cloud machine (DigitalOcean, Hetzner Cloud), and cleans up after it.
Only machines tagged "thebacknd" are ever listed or destroyed.

Commands:
${commands}

Options:
  -p, --provider P     digitalocean or hetzner (default: every provider with a token; create: the only one, or digitalocean)
      --token-file F   read the token of --provider from F (default: ${TOKEN_ENV.digitalocean} / ${TOKEN_ENV.hetzner})
      --token-command C  run C (through /bin/sh) for the token of --provider, e.g. a password manager; its output is
                       never shown (setting: $THEBACKND_DO_TOKEN_COMMAND / $THEBACKND_HCLOUD_TOKEN_COMMAND, used when
                       the token variable is unset)
      --endpoint URL   API base URL of --provider, e.g. the local emulator (default: ${ENDPOINT_ENV.digitalocean} / ${ENDPOINT_ENV.hetzner})
  -h, --help           show this help, or a command's: thebacknd <command> --help
  -V, --version        print the version

Exit status: 0 on success, 1 when something failed, 2 on wrong arguments; a cancelled command (Ctrl-C, SIGTERM,
SIGHUP, SIGQUIT) exits 128 + the signal's number (130, 143, 129, 131).
`;
}

/** A one-line usage gets the summary under it; a longer one already says everything. */
export function commandHelp(command: CommandSpec): string {
  const usage = `Usage: thebacknd ${command.usage}`;
  const globals = 'Global options, before or after the command: --provider P, --token-file F, --endpoint URL (see thebacknd --help).';
  return usage.includes('\n') ? `${usage.replace(/\n*$/, '\n')}\n${globals}\n` : `${usage}\n\n${command.summary}\n\n${globals}\n`;
}
