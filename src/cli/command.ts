// The shape every subcommand has. A family file (machines.ts, destroy.ts, …) exports a `CliCommand[]`; main.ts
// lists the families. main owns the parsing of every command line: an option is honoured wherever it stands
// (before or after the command name) or refused with exit 2.

import type { ParseArgsConfig } from 'node:util';
import type { CliContext } from './context';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

interface CommandInfo {
  name: string;
  /** One line for `thebacknd --help`. */
  summary: string;
  /** Arguments and options after the command name, for `thebacknd <command> --help`. */
  usage: string;
}

/** A subcommand: main parses its options (plus the global ones) and builds the context. */
export interface ProviderCommand extends CommandInfo {
  /** Options of this command; the global ones (--provider, --token-file, --endpoint, --help) are added by main. */
  options?: OptionSpec;
  run(ctx: CliContext, args: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] }): Promise<number>;
}

export type CliCommand = ProviderCommand;

/** Wrong arguments: exit code 2 and a pointer to the help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The options main adds to every command (they mean the same everywhere: a command never redeclares them). */
export const GLOBAL_OPTIONS = {
  provider: { type: 'string', short: 'p' },
  'token-file': { type: 'string' },
  'token-command': { type: 'string' },
  endpoint: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const satisfies OptionSpec;

/** The global options that choose a cloud, its API or its token. */
export const CLOUD_OPTIONS = ['provider', 'token-file', 'token-command', 'endpoint'] as const;

/**
 * Refuses (exit 2) any of `names` that was given: options a command, or this mode of it, has no use for. Every
 * option is honoured or refused, never silently dropped.
 */
export function refuse(values: Readonly<Record<string, unknown>>, names: readonly string[], why: string): void {
  const given = names.filter((n) => values[n] !== undefined);
  if (given.length) throw new UsageError(`${given.map((n) => `--${n}`).join(', ')}: ${why}`);
}

/** A string option as given (main's parser guarantees the type from the option table). */
export function str(values: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}
