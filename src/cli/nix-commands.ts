// The Nix family of subcommands: each parses its own arguments (see build.ts, push.ts, keygen.ts).
import type { CliCommand } from './command';
import { buildCommand } from './build';
import { pushCommand } from './push';
import { keygenCommand } from './keygen';

export const NIX_COMMANDS: CliCommand[] = [
  { name: 'build', summary: 'build a nixosConfiguration or installable; print its store path', usage: 'build [installable] [--push]', raw: buildCommand },
  { name: 'push', summary: 'sign a closure and upload what the S3 binary cache lacks', usage: 'push <store-path>…', raw: pushCommand },
  { name: 'keygen', summary: 'generate a binary-cache signing key pair', usage: 'keygen [--name N] [--dir D]', raw: keygenCommand },
];
