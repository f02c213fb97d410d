// The arrows between src/ folders point down only, and no files import each other in a circle (issue #18, item 3).
// The order is src/layers.json; every import of every src file is read with TypeScript's own scanner (static and
// type imports, re-exports, dynamic import(), require), so a new file cannot slip past.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(__dirname, '../../../..');
const src = path.join(root, 'src');

interface Tier {
  folders: string[];
  vscode: boolean;
  why: string;
}
const { tiers } = JSON.parse(fs.readFileSync(path.join(src, 'layers.json'), 'utf8')) as { tiers: Tier[] };

/**
 * Imports that break the rules today and are being fixed on other branches of the same issue. Each entry is an edge
 * `from -> to` (paths under src/) and is skipped by both checks. An entry whose import no longer exists fails the
 * test, so it is deleted as soon as the fix lands.
 */
const ALLOWED: { from: string; to: string; why: string }[] = [];

function walk(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The import target as a path under src/ (`undefined` for packages), or the absolute path when it leaves src/. */
function resolve(fromFile: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(fromFile), spec);
  const hit = [`${base}.ts`, path.join(base, 'index.ts'), base].find((c) => fs.existsSync(c) && fs.statSync(c).isFile());
  return hit ?? base;
}

const rel = (abs: string) => path.relative(src, abs).split(path.sep).join('/');
/** The layer a src file belongs to: its top folder, or the file itself at the top of src/. */
const folderOf = (relPath: string) => (relPath.includes('/') ? relPath.slice(0, relPath.indexOf('/')) : relPath);

interface Import {
  from: string;
  to: string;
  spec: string;
}
const files = walk(src).map(rel).sort();
const imports: Import[] = [];
const packages: { from: string; spec: string }[] = [];
for (const f of files) {
  const info = ts.preProcessFile(fs.readFileSync(path.join(src, f), 'utf8'), true, true);
  for (const { fileName: spec } of info.importedFiles) {
    const target = resolve(path.join(src, f), spec);
    if (target === undefined) packages.push({ from: f, spec });
    else imports.push({ from: f, to: target.startsWith(src + path.sep) ? rel(target) : path.relative(root, target), spec });
  }
}
const allowed = (i: Import) => ALLOWED.some((a) => a.from === i.from && a.to === i.to);

const tierOf = new Map<string, number>();
tiers.forEach((t, n) => t.folders.forEach((f) => tierOf.set(f, n)));

test('every src folder has a place in src/layers.json, and every place there is a src folder', () => {
  const present = [...new Set(files.map(folderOf))].sort();
  assert.deepEqual(
    present.filter((f) => !tierOf.has(f)),
    [],
    'folders missing from src/layers.json',
  );
  assert.deepEqual([...tierOf.keys()].filter((f) => !present.includes(f)).sort(), [], 'src/layers.json names folders that do not exist');
});

test('no import runs from a lower folder to a higher one, or between folders on the same tier', () => {
  const bad: string[] = [];
  for (const i of imports) {
    if (allowed(i)) continue;
    if (!i.to.includes('/') && !files.includes(i.to)) {
      // Leaves src/: only the manifest (for the version) is read that way.
      if (i.to !== 'package.json') bad.push(`${i.from} imports ${i.spec}, outside src/`);
      continue;
    }
    const a = folderOf(i.from);
    const b = folderOf(i.to);
    if (a === b) continue;
    const ta = tierOf.get(a);
    const tb = tierOf.get(b);
    if (ta === undefined || tb === undefined) continue; // reported by the test above
    if (tb > ta) bad.push(`${i.from} imports ${i.to}: ${b}/ is above ${a}/`);
    else if (tb === ta) bad.push(`${i.from} imports ${i.to}: ${a}/ and ${b}/ are siblings on one tier`);
  }
  assert.deepEqual(bad, []);
});

test("below the line (vscode=false in src/layers.json) nothing imports 'vscode'", () => {
  const below = new Set(tiers.filter((t) => !t.vscode).flatMap((t) => t.folders));
  const bad = packages.filter((p) => p.spec === 'vscode' && below.has(folderOf(p.from))).map((p) => p.from);
  assert.deepEqual(bad, []);
});

test('no two src files import each other, directly or around a circle', () => {
  const graph = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const i of imports) if (graph.has(i.to) && !allowed(i)) graph.get(i.from)!.push(i.to);
  const cycles = stronglyConnected(graph)
    .filter((c) => c.length > 1 || graph.get(c[0]!)!.includes(c[0]!))
    .map((c) => cyclePath(graph, c).join(' -> '));
  assert.deepEqual(cycles, []);
});

test('every allow-list entry still names an import that exists (delete it once its fix has landed)', () => {
  const stale = ALLOWED.filter((a) => !imports.some((i) => i.from === a.from && i.to === a.to));
  assert.deepEqual(stale, []);
});

/** test/unit/ folders that are not a src folder, and what they test instead. */
const TEST_FOLDERS_OF_THEIR_OWN: Record<string, string> = {
  architecture: 'the rules of the whole src/ tree',
  emulator: 'test/fixtures/emulator/, the cloud emulator',
  testhost: 'test/fixtures/testhost/, the test hosts',
};

test('test/unit/ mirrors src/: each folder of tests is named after the src folder it tests', () => {
  const unit = path.join(root, 'test', 'unit');
  const srcFolders = new Set(files.filter((f) => f.includes('/')).map(folderOf));
  const stray = fs
    .readdirSync(unit, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !srcFolders.has(e.name) && !Object.hasOwn(TEST_FOLDERS_OF_THEIR_OWN, e.name))
    .map((e) => e.name);
  assert.deepEqual(stray, []);
});

/** Tarjan's algorithm: the strongly connected components, each a set of files that reach one another. */
function stronglyConnected(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      out.push(c.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** One circle through a component, starting and ending at its first file, so the message shows the imports to cut. */
function cyclePath(graph: Map<string, string[]>, component: string[]): string[] {
  const inside = new Set(component);
  const start = component[0]!;
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of graph.get(v)!) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const back = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = prev.get(u)) back.push(u);
        return [start, ...back.slice(1).reverse(), start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return component;
}
