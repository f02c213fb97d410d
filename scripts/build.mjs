// Bundles the extension and the CLI with esbuild: one file each plus the vendor files they share (ssh2, the AWS SDK;
// see scripts/esbuild-options.cjs), sourcemaps, `vscode` left to the host.
import * as esbuild from 'esbuild';
import options from './esbuild-options.cjs';

const { nodeBundle, vendorBundles, reaperBundles } = options;

const production = process.argv.includes('--production');

await Promise.all([
  esbuild.build(nodeBundle({ entry: 'src/extension.ts', outfile: 'dist/extension.js', production })),
  esbuild.build(nodeBundle({ entry: 'src/cli/main.ts', outfile: 'dist/cli.js', production, banner: '#!/usr/bin/env node' })),
  esbuild.build(vendorBundles({ outdir: 'dist/vendor', production })),
  // The cloud reaper's actions, which `thebacknd reaper deploy` uploads to DigitalOcean Functions.
  esbuild.build(reaperBundles({ outdir: 'dist/reaper', production })),
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
