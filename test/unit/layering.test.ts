// The vscode-free core is what the CLI and plain tests drive: `vscode` may only be imported by the thin UI layer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../../..');
const allowed = [/^src\/extension\.ts$/, /^src\/views\//, /^src\/commands\//];

function* walk(dir: string): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (/\.tsx?$/.test(e.name)) yield p;
  }
}

test('only src/extension.ts, src/views/ and src/commands/ import vscode', () => {
  const offenders: string[] = [];
  let scanned = 0;
  for (const file of walk(path.join(root, 'src'))) {
    const rel = path.relative(root, file).split(path.sep).join('/');
    scanned++;
    const text = fs.readFileSync(file, 'utf8');
    const importsVscode = /(?:from\s+|require\(\s*|import\(\s*)['"]vscode['"]/.test(text);
    if (importsVscode && !allowed.some((re) => re.test(rel))) offenders.push(rel);
  }
  assert.ok(scanned > 5, 'the scan found the sources');
  assert.deepEqual(offenders, [], `vscode imported below the UI layer: ${offenders.join(', ')}`);
});

test('the UI layer does import vscode (the check can see an import)', () => {
  const text = fs.readFileSync(path.join(root, 'src/extension.ts'), 'utf8');
  assert.match(text, /from 'vscode'/);
});
