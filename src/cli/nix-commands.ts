// The Nix family of subcommands: each parses its own arguments (see build.ts, push.ts, keygen.ts).
import type { CliCommand } from './command';
import { buildCommand } from './build';
import { pushCommand } from './push';
import { keygenCommand } from './keygen';
import { buildOnWorkersCommand } from './workers';

/** `build --workers N` runs the build on ephemeral cloud machines (src/workers); plain `build` runs it here. */
const onWorkers = (argv: string[]): boolean => argv.some((a) => a === '--workers' || a.startsWith('--workers='));

export const NIX_COMMANDS: CliCommand[] = [
  { name: 'build', summary: 'build a nixosConfiguration or installable; print its store path', usage: 'build [installable] [--push | --workers N]', raw: (argv, io) => (onWorkers(argv) ? buildOnWorkersCommand(argv, io) : buildCommand(argv, io)) },
  { name: 'push', summary: 'sign a closure and upload what the S3 binary cache lacks', usage: 'push <store-path>…', raw: pushCommand },
  { name: 'keygen', summary: 'generate a binary-cache signing key pair', usage: 'keygen [--name N] [--dir D]', raw: keygenCommand },
];
