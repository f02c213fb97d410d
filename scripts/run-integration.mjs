// `npm run test:integration`: the integration suite inside real VS Code (code-server), extension in development
// mode. Expects `npx tsc -p ./` and `npm run build` to have run (npm test does both first).
// Options: --grep <pattern>, --timeout <seconds> (default 900), --verbose (the workbench console as it comes).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureVscode } from './setup-vscode.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgsOrExit({
  options: { grep: { type: 'string' }, timeout: { type: 'string' }, verbose: { type: 'boolean' } },
});

function fail(message) {
  console.error(`integration: ${message}`);
  console.log('integration: 0 passed, 1 failed');
  process.exit(1);
}

const runner = join(root, 'out/test/runners/integration.js');
if (!existsSync(runner)) fail('out/test/runners/integration.js is missing: run `npx tsc -p ./` first.');
try {
  ensureVscode();
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}

const { runIntegration } = createRequire(import.meta.url)(runner);
try {
  const outcome = await runIntegration({
    ...(values.grep ? { grep: values.grep } : {}),
    ...(values.timeout ? { timeoutMs: Number(values.timeout) * 1000 } : {}),
    verbose: values.verbose ?? process.env.THEBACKND_VERBOSE === '1',
  });
  const r = outcome.results;
  const counts = r ? `${r.passed} passed, ${r.failed} failed` : `0 passed, 1 failed`;
  const pending = r?.pending ? ` (${r.pending} pending)` : '';
  console.log(`integration: ${counts}${pending} in ${outcome.seconds.toFixed(1)} s (code-server, VS Code 1.100.3)`);
  for (const f of r?.failures ?? []) console.log(`  ✗ ${f.title}: ${f.error.split('\n')[0]}`);
  process.exitCode = outcome.exitCode !== 0 || !r || r.failed > 0 || r.passed === 0 ? 1 : 0;
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}

function parseArgsOrExit(config) {
  try {
    return parseArgs(config);
  } catch (err) {
    console.error(`integration: ${err instanceof Error ? err.message : err}`);
    process.exit(2);
  }
}
