// Bundles the extension and the CLI with esbuild: one file each, sourcemaps, `vscode` left to the host.
// The AWS SDK and ssh2 are reached through `await import()` in the code, so esbuild keeps them in lazily
// evaluated wrappers: they cost nothing at activation.
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  minify: production,
  logLevel: 'warning',
  // ssh2's optional native accelerators: it falls back to pure JS when they are absent.
  external: ['vscode', 'cpu-features', '*.node'],
};

await Promise.all([
  esbuild.build({ ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js' }),
  esbuild.build({
    ...common,
    entryPoints: ['src/cli/main.ts'],
    outfile: 'dist/cli.js',
    banner: { js: '#!/usr/bin/env node' },
  }),
]);

// The machine panel's webview script (media/panel/panel.ts with @vscode-elements/elements): a browser bundle,
// loaded by the panel from dist/panel/ under its strict CSP.
await esbuild.build({
  entryPoints: ['media/panel/panel.ts'],
  outfile: 'dist/panel/panel.js',
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: 'es2022',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
});
