// What main's parser hands a command, and the few readers every command uses on it. The bottom of src/cli: it
// imports nothing of the CLI, so command.ts, context.ts and the commands can all lean on it without a circle.

import type { ParseArgsConfig } from 'node:util';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Option values as main's parser gives them (keyed by the long name, without the dashes). */
export type Values = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;

export interface Args {
  values: Values;
  positionals: string[];
}

/** Wrong arguments: exit code 2 and a pointer to the help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Refuses (exit 2) any of `names` that was given: options a command, or this mode of it, has no use for. */
export function refuse(values: Readonly<Record<string, unknown>>, names: readonly string[], why: string): void {
  const given = names.filter((n) => values[n] !== undefined);
  if (given.length) throw new UsageError(`${given.map((n) => `--${n}`).join(', ')}: ${why}`);
}

/** A string option as given (main's parser guarantees the type from the option table). */
export function str(values: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** Option tables, written short: `{ ...strings('region', 'size'), ...flags('json') }`. */
export function strings<K extends string>(...names: K[]): Record<K, { type: 'string' }> {
  return Object.fromEntries(names.map((n) => [n, { type: 'string' }])) as Record<K, { type: 'string' }>;
}

export function flags<K extends string>(...names: K[]): Record<K, { type: 'boolean' }> {
  return Object.fromEntries(names.map((n) => [n, { type: 'boolean' }])) as Record<K, { type: 'boolean' }>;
}
