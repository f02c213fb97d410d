// The `thebacknd` command: the same vscode-free core as the extension, for scripts, cron and CI.
import { parseArgs } from 'node:util';
import { version } from '../../package.json';

const HELP = `Usage: thebacknd [--help] [--version] <command> [options]

Turns a Nix flake into a disposable cloud machine (DigitalOcean, Hetzner Cloud).

Options:
  -h, --help       show this help
  -V, --version    print the version
`;

export async function main(argv: string[], io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'V' } },
    allowPositionals: true,
    strict: false,
  });
  if (values.version) {
    io.stdout.write(`${version}\n`);
    return 0;
  }
  if (values.help || positionals.length === 0) {
    io.stdout.write(HELP);
    return positionals.length === 0 && !values.help ? 2 : 0;
  }
  io.stderr.write(`thebacknd: unknown command '${positionals[0]}'. Run 'thebacknd --help'.\n`);
  return 2;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
    process.stderr.write(`thebacknd: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
