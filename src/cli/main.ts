// The `thebacknd` command: the same vscode-free core as the extension, for scripts, cron and CI.
// Dispatch only: each family of subcommands lives in its own file and exports a CliCommand[] (see command.ts).
import { parseArgs } from 'node:util';
import { version } from '../../package.json';
import { UserError, messageOf } from '../base/errors';
import { PROVIDERS, TOKEN_ENV } from '../base/tokens';
import { GLOBAL_OPTIONS, UsageError, type CliCommand, type OptionSpec } from './command';
import { CliContext, ENDPOINT_ENV, type CliIo } from './context';
import { DEPLOY_COMMANDS } from './deploy';
import { DESTROY_COMMANDS } from './destroy';
import { DOCTOR_COMMANDS } from './doctor';
import { MACHINE_COMMANDS } from './machines';
import { NIX_COMMANDS } from './nix-commands';
import { IMAGE_COMMANDS } from './image';
import { REAPER_COMMANDS } from './reaper';
import { RUN_COMMANDS } from './run';
import { SHELL_COMMANDS } from './shell';

/** Add a family here to add its subcommands (each a ProviderCommand: main parses, the command runs). */
const FAMILIES: CliCommand[][] = [MACHINE_COMMANDS, DESTROY_COMMANDS, NIX_COMMANDS, RUN_COMMANDS, IMAGE_COMMANDS, DEPLOY_COMMANDS, REAPER_COMMANDS, SHELL_COMMANDS, DOCTOR_COMMANDS];
export const COMMANDS: CliCommand[] = FAMILIES.flat();
const ALL = COMMANDS;

const GLOBAL: OptionSpec = GLOBAL_OPTIONS;

/**
 * Every option any command knows, so that finding the command name skips option values wherever they stand
 * (`thebacknd --region fra1 run …`); a name means one type in every command (a unit test checks).
 */
function allOptions(commands: readonly CliCommand[]): OptionSpec {
  return Object.assign({}, ...commands.map((c) => c.options ?? {}), GLOBAL) as OptionSpec;
}

function help(all: readonly CliCommand[]): string {
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

Exit status: 0 on success, 1 when something failed, 2 on wrong arguments.
`;
}

/** A one-line usage gets the summary under it; a longer one already says everything. */
function commandHelp(command: CliCommand): string {
  const usage = `Usage: thebacknd ${command.usage}`;
  const globals = 'Global options, before or after the command: --provider P, --token-file F, --endpoint URL (see thebacknd --help).';
  return usage.includes('\n') ? `${usage.replace(/\n*$/, '\n')}\n${globals}\n` : `${usage}\n\n${command.summary}\n\n${globals}\n`;
}

export function defaultIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
  };
}

/** Runs one command line; `commands` is for tests. */
export async function main(argv: string[], io: CliIo = defaultIo(), commands: readonly CliCommand[] = ALL): Promise<number> {
  let secrets = PROVIDERS.map((p) => io.env[TOKEN_ENV[p]] ?? '').filter(Boolean);
  let named: string | undefined;
  try {
    const pre = parseArgs({ args: argv, options: allOptions(commands), strict: false, allowPositionals: true, tokens: true });
    if (pre.values.version) {
      io.stdout.write(`${version}\n`);
      return 0;
    }
    const first = pre.tokens.find((t) => t.kind === 'positional');
    if (!first || first.kind !== 'positional') {
      io.stdout.write(help(commands));
      return pre.values.help ? 0 : 2;
    }
    const command = commands.find((c) => c.name === first.value);
    if (!command) throw new UsageError(`unknown command '${first.value}'.`);
    named = command.name;
    const rest = argv.filter((_, i) => i !== first.index);
    // The command's own options, then the global ones (which win: they mean the same in every command).
    const { values, positionals } = parseArgs({ args: rest, options: { ...command.options, ...GLOBAL }, strict: true, allowPositionals: true });
    if (values.help) {
      io.stdout.write(commandHelp(command));
      return 0;
    }
    const ctx = new CliContext(io, {
      provider: values.provider as string | undefined,
      tokenFile: values['token-file'] as string | undefined,
      tokenCommand: values['token-command'] as string | undefined,
      endpoint: values.endpoint as string | undefined,
    });
    secrets = ctx.secrets;
    return await command.run(ctx, { values, positionals });
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`thebacknd: ${messageOf(err, secrets)} Run 'thebacknd ${named ? `${named} ` : ''}--help'.\n`);
      return 2;
    }
    const text = messageOf(err, secrets);
    io.stderr.write(`thebacknd: ${err instanceof UserError ? text : text.replace(/\.?$/, '.')}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`thebacknd: ${messageOf(err)}\n`);
      process.exitCode = 1;
    },
  );
}
