// The one shape every subcommand has. A family file (machines.ts, destroy.ts, …) exports a `CommandSpec[]`; main.ts
// lists the families and owns the rest: parsing (an option is honoured wherever it stands, before or after the
// command name, or refused with exit 2), help, deprecated spellings, signals, and the exit code of a failure.

import type { Args, OptionSpec } from './args';
import type { CliContext } from './context';

/** An old spelling of an option, accepted for one release with a warning that names the new one. */
export interface DeprecatedAlias {
  old: string;
  now: string;
  /** When the old spelling meant `now` (build: only with --push); always when absent. */
  when?: (values: Args['values']) => boolean;
}

export interface CommandSpec {
  name: string;
  /** One line for `thebacknd --help`. */
  summary: string;
  /** Arguments and options after the command name, for `thebacknd <command> --help`. */
  usage: string;
  /** Options of this command; the global ones (GLOBAL_OPTIONS) are added by main. */
  options?: OptionSpec;
  deprecated?: readonly DeprecatedAlias[];
  /**
   * Ctrl-C, SIGTERM, SIGHUP, SIGQUIT (or io.signal) cancel this command through ctx.signal instead of ending the
   * process; main then prints `said` (when there is something to say) and exits 128 + the signal's number.
   */
  cancel?: { said?: string };
  run(ctx: CliContext, args: Args): Promise<number>;
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
