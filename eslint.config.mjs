// ESLint 9 flat config (issue #18, item 5): type-aware, with only the rules that catch bugs this code base has had or
// can have. Formatting is Prettier's job (.prettierrc.json), not ESLint's.
import fs from 'node:fs';
import tseslint from 'typescript-eslint';

/** src/layers.json: the folders below the vscode line never import 'vscode' (the layer test checks the same). */
const { tiers } = JSON.parse(fs.readFileSync(new URL('./src/layers.json', import.meta.url), 'utf8'));
const belowTheLine = tiers.filter((t) => !t.vscode).flatMap((t) => t.folders);

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'dist-vsix/**', 'node_modules/**', 'test/vscode/**', 'src/providers/hetzner/schema.d.ts', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      // The project service picks each file's tsconfig: ./tsconfig.json (src, test, bench) or media/panel/tsconfig.json.
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A promise nobody awaits loses its rejection (an unhandled rejection, or an error the user never sees). Where
      // fire-and-forget is meant, `void` says so, with a comment why.
      // node:test's test() and describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      // An async function where a void callback is expected (event listeners, setTimeout, forEach): its rejection
      // escapes every handler. Spreading a promise or testing one in a condition is always a bug.
      '@typescript-eslint/no-misused-promises': 'error',
      'no-restricted-syntax': [
        'error',
        {
          // `key in TABLE` with a key from outside (a webview message, a command argument, a parsed file) also finds
          // the prototype's keys: `{ action: 'constructor' }` passes `action in ACTION_COMMAND`. A literal key is a
          // type check (`'machine' in node`) and stays allowed.
          selector: "BinaryExpression[operator='in'][left.type!='Literal']",
          message: 'A computed key with `in` also matches inherited keys (toString, constructor, __proto__): use Object.hasOwn(table, key) or a Map.',
        },
        {
          // What a webview posts is whatever its page sends: it arrives as `unknown` and is checked before use.
          selector: "CallExpression[callee.property.name='onDidReceiveMessage'] > :function > Identifier.params[typeAnnotation.typeAnnotation.type!='TSUnknownKeyword']",
          message: 'A webview message is untrusted: take it as `unknown` and check its shape before reading it.',
        },
        {
          selector: "CallExpression[callee.property.name='onDidReceiveMessage'] > :function > Identifier.params:not([typeAnnotation])",
          message: 'A webview message is untrusted: take it as `unknown` and check its shape before reading it.',
        },
      ],
    },
  },
  {
    files: belowTheLine.map((f) => (f.endsWith('.ts') ? `src/${f}` : `src/${f}/**/*.ts`)),
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'Below the vscode line (src/layers.json): take what you need as a parameter from the VS Code layer.' }] }],
    },
  },
);
