// The Nix family of subcommands (see build.ts, push.ts, keygen.ts); `build --workers N` is in workers.ts.
import type { CommandSpec } from './command';
import { BUILD_COMMAND } from './build';
import { PUSH_COMMAND } from './push';
import { KEYGEN_COMMAND } from './keygen';

export const NIX_COMMANDS: CommandSpec[] = [BUILD_COMMAND, PUSH_COMMAND, KEYGEN_COMMAND];
