// The shape every subcommand has. A family file (machines.ts, destroy.ts, …) exports a `CliCommand[]`; main.ts
// lists the families. To add one (build, push, run, import-image): write a file exporting its commands and add it
// to FAMILIES in main.ts.

import type { ParseArgsConfig } from 'node:util';
import type { CliContext, CliIo } from './context';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

interface CommandInfo {
  name: string;
  /** One line for `thebacknd --help`. */
  summary: string;
  /** Arguments and options after the command name, for `thebacknd <command> --help`. */
  usage: string;
}

/** A command on the cloud providers: main parses its options (plus the global ones) and builds the context. */
export interface ProviderCommand extends CommandInfo {
  /** Options of this command; the global ones (--provider, --token-file, --endpoint, --help) are added by main. */
  options?: OptionSpec;
  run(ctx: CliContext, args: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] }): Promise<number>;
}

/** A command that parses its own arguments (everything after its name) and prints its own help. */
export interface RawCommand extends CommandInfo {
  raw(argv: string[], io: CliIo): Promise<number>;
}

export type CliCommand = ProviderCommand | RawCommand;

/** Wrong arguments: exit code 2 and a pointer to the help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
