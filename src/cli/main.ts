// The `thebacknd` command: the same vscode-free core as the extension, for scripts, cron and CI.
// main owns what every command shares: parsing, help, deprecated spellings, signals and exit codes (0 ok, 1 failed,
// 2 wrong arguments, 128 + the signal's number when cancelled). Each family of subcommands lives in its own file and
// exports a CommandSpec[] (see command.ts).
import { parseArgs } from 'node:util';
import { version } from '../../package.json';
import { isAbort, messageOf, redact, UserError } from '../base/errors';
import { UsageError, type OptionSpec, type Values } from './args';
import { GLOBAL_OPTIONS, type CommandSpec } from './command';
import { CliContext, environmentSecrets, type CliIo } from './context';
import { DEPLOY_COMMANDS } from './deploy';
import { DESTROY_COMMANDS } from './destroy';
import { DOCTOR_COMMANDS } from './doctor';
import { commandHelp, help } from './help';
import { MACHINE_COMMANDS } from './machines';
import { NIX_COMMANDS } from './nix-commands';
import { IMAGE_COMMANDS } from './image';
import { REAPER_COMMANDS } from './reaper';
import { RUN_COMMANDS } from './run';
import { SHELL_COMMANDS } from './shell';
import { cancelOn, type Cancel } from './signals';

/** Add a family here to add its subcommands. */
const FAMILIES: CommandSpec[][] = [
  MACHINE_COMMANDS,
  DESTROY_COMMANDS,
  NIX_COMMANDS,
  RUN_COMMANDS,
  IMAGE_COMMANDS,
  DEPLOY_COMMANDS,
  REAPER_COMMANDS,
  SHELL_COMMANDS,
  DOCTOR_COMMANDS,
];
export const COMMANDS: CommandSpec[] = FAMILIES.flat();

const GLOBAL: OptionSpec = GLOBAL_OPTIONS;

/** A command's own options, its deprecated spellings (typed as what they stand for), then the global ones (which win). */
function optionsOf(command: CommandSpec): OptionSpec {
  const own = command.options ?? {};
  const old = Object.fromEntries((command.deprecated ?? []).filter((a) => own[a.now]).map((a) => [a.old, own[a.now]!]));
  return { ...own, ...old, ...GLOBAL };
}

/**
 * Every option any command knows, so that finding the command name skips option values wherever they stand
 * (`thebacknd --region fra1 run …`); a name means one type in every command (a unit test checks).
 */
function allOptions(commands: readonly CommandSpec[]): OptionSpec {
  return Object.assign({}, ...commands.map(optionsOf)) as OptionSpec;
}

/** Moves an old spelling's value to its new name, with a warning on stderr that names the new flag. */
function renameDeprecated(command: CommandSpec, values: Record<string, Values[string]>, stderr: NodeJS.WritableStream): void {
  for (const a of command.deprecated ?? []) {
    if (values[a.old] === undefined) continue;
    if (a.when && !a.when(values)) {
      // Parsed only for its old meaning: in this mode it is no option of the command (never silently dropped).
      if (!Object.hasOwn(command.options ?? {}, a.old) && !Object.hasOwn(GLOBAL, a.old))
        throw new UsageError(`--${a.old} is not an option of ${command.name} here (did you mean --${a.now}?).`);
      continue;
    }
    if (values[a.now] !== undefined) throw new UsageError(`--${a.old} and --${a.now} name the same thing: use --${a.now} alone.`);
    values[a.now] = values[a.old];
    delete values[a.old];
    stderr.write(`thebacknd: warning: --${a.old} is deprecated in ${command.name}: use --${a.now} (the old spelling goes in the next release).\n`);
  }
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
export async function main(argv: string[], io: CliIo = defaultIo(), commands: readonly CommandSpec[] = COMMANDS): Promise<number> {
  let secrets = environmentSecrets(io.env);
  let command: CommandSpec | undefined;
  let cancel: Cancel | undefined;
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
    command = commands.find((c) => c.name === first.value);
    if (!command) throw new UsageError(`unknown command '${first.value}'.`);
    const rest = argv.filter((_, i) => i !== first.index);
    const { values, positionals } = parseArgs({ args: rest, options: optionsOf(command), strict: true, allowPositionals: true });
    if (values.help) {
      io.stdout.write(commandHelp(command));
      return 0;
    }
    renameDeprecated(command, values, io.stderr);
    cancel = command.cancel ? cancelOn(io.signal) : undefined;
    const ctx = new CliContext(
      io,
      {
        provider: values.provider as string | undefined,
        tokenFile: values['token-file'] as string | undefined,
        tokenCommand: values['token-command'] as string | undefined,
        endpoint: values.endpoint as string | undefined,
      },
      cancel?.signal ?? io.signal,
    );
    secrets = ctx.secrets;
    const code = await command.run(ctx, { values, positionals });
    return cancel?.signal.aborted ? cancelled(io, command, cancel) : code;
  } catch (err) {
    if (err instanceof UsageError || isParseError(err)) {
      io.stderr.write(`thebacknd: ${messageOf(err, secrets)} Run 'thebacknd ${command ? `${command.name} ` : ''}--help'.\n`);
      return 2;
    }
    if (command && cancel && (cancel.signal.aborted || isAbort(err))) return cancelled(io, command, cancel);
    const text = messageOf(err, secrets);
    io.stderr.write(`thebacknd: ${err instanceof UserError ? text : text.replace(/\.?$/, '.')}\n`);
    if (err instanceof UserError && err.detail) io.stderr.write(`${redact(err.detail, secrets).replace(/^/gm, '  ')}\n`);
    return 1;
  } finally {
    cancel?.dispose();
  }
}

/** node:util's parseArgs errors (anything may be thrown: its `code` may be a number, or the error no object). */
function isParseError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}

function cancelled(io: CliIo, command: CommandSpec, cancel: Cancel): number {
  if (command.cancel?.said) io.stderr.write(`thebacknd: ${command.cancel.said}\n`);
  return cancel.exitCode();
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
