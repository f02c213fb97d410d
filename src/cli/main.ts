// The `thebacknd` command: the same vscode-free core as the extension, for scripts, cron and CI.
// Dispatch only: each family of subcommands lives in its own file and exports a CliCommand[] (see command.ts).
import { parseArgs } from 'node:util';
import { version } from '../../package.json';
import { UserError, messageOf } from '../core/errors';
import { PROVIDERS, TOKEN_ENV } from '../core/tokens';
import { UsageError, type CliCommand, type OptionSpec } from './command';
import { CliContext, ENDPOINT_ENV, type CliIo } from './context';
import { DESTROY_COMMANDS } from './destroy';
import { DOCTOR_COMMANDS } from './doctor';
import { MACHINE_COMMANDS } from './machines';
import { NIX_COMMANDS } from './nix-commands';
import { IMAGE_COMMANDS } from './image';
import { RUN_COMMANDS } from './run';

/** Add a family here to add its subcommands (a ProviderCommand, or a RawCommand wrapping `(argv, io) => exit code`). */
const FAMILIES: CliCommand[][] = [MACHINE_COMMANDS, DESTROY_COMMANDS, NIX_COMMANDS, RUN_COMMANDS, IMAGE_COMMANDS, DOCTOR_COMMANDS];
const ALL: CliCommand[] = FAMILIES.flat();

const GLOBAL: OptionSpec = {
  provider: { type: 'string', short: 'p' },
  'token-file': { type: 'string' },
  endpoint: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
};

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
      --endpoint URL   API base URL of --provider, e.g. the local emulator (default: ${ENDPOINT_ENV.digitalocean} / ${ENDPOINT_ENV.hetzner})
  -h, --help           show this help, or a command's: thebacknd <command> --help
  -V, --version        print the version

Exit status: 0 on success, 1 when something failed, 2 on wrong arguments.
`;
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
  try {
    const pre = parseArgs({ args: argv, options: GLOBAL, strict: false, allowPositionals: true, tokens: true });
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
    if ('raw' in command) return await command.raw(argv.slice(first.index + 1), io);
    const rest = argv.filter((_, i) => i !== first.index);
    const { values, positionals } = parseArgs({ args: rest, options: { ...GLOBAL, ...command.options }, strict: true, allowPositionals: true });
    if (values.help) {
      io.stdout.write(`Usage: thebacknd [--provider P] [--token-file F] [--endpoint URL] ${command.usage}\n\n${command.summary}\n`);
      return 0;
    }
    const ctx = new CliContext(io, {
      provider: values.provider as string | undefined,
      tokenFile: values['token-file'] as string | undefined,
      endpoint: values.endpoint as string | undefined,
    });
    secrets = ctx.secrets;
    return await command.run(ctx, { values, positionals });
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`thebacknd: ${messageOf(err, secrets)} Run 'thebacknd --help'.\n`);
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
