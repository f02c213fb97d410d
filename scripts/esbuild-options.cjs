// esbuild options of the Node bundles (the extension and the CLI), shared by scripts/build.mjs and the bundle
// benchmark (bench/bundle.ts), so the figures are those of what ships. CommonJS, so that both can load it.
//
// ssh2, the AWS SDK and dots-wrapper (with axios) are most of the bundle and are needed only once a machine is reached, a
// cache is written or DigitalOcean is asked.
// The code reaches them through `await import('../vendor/ssh2' | '../vendor/aws' | '../vendor/dots')`; here those imports become
// requires of separate files next to the bundle (dist/vendor/*.js), so activation neither loads nor parses them.

/** Modules under src/vendor/ that get a file of their own. */
const VENDOR = ['ssh2', 'aws', 'dots'];
const NAMES = VENDOR.join('|');
const IMPORTED = new RegExp(`(^|/)vendor/(${NAMES})$`);
const REQUIRED = new RegExp(`^\\./vendor/(${NAMES})\\.js$`);

// An `await import()` of a vendor module becomes a tiny bundled shim, `module.exports = require('./vendor/x.js')`:
// esbuild wraps it to run on first import, and the require (left to Node, relative to the bundle) loads the file.
// (Leaving the import() itself external would make Node's ESM loader read the file, which sees no named exports in
// a CommonJS bundle; VS Code's extension host also expects extension code to load through require.)
const vendorPlugin = {
  name: 'thebacknd-vendor',
  setup(build) {
    build.onResolve({ filter: IMPORTED }, (args) => {
      if (/[/\\]src[/\\]vendor[/\\]/.test(args.importer)) return undefined;
      // A static import would load the file at activation again: only `await import()` may reach a vendor module.
      if (args.kind !== 'dynamic-import') {
        return { errors: [{ text: `${args.path} must be reached with await import(), not a static import (${args.importer})` }] };
      }
      return { path: IMPORTED.exec(args.path)[2], namespace: 'thebacknd-vendor' };
    });
    build.onLoad({ filter: /.*/, namespace: 'thebacknd-vendor' }, (args) => ({
      contents: `module.exports = require('./vendor/${args.path}.js');`,
      loader: 'js',
    }));
    build.onResolve({ filter: REQUIRED }, (args) => ({ path: args.path, external: true }));
  },
};

const common = (production) => ({
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: production,
  logLevel: 'warning',
  // ssh2's optional native accelerators: it falls back to pure JS when they are absent.
  external: ['vscode', 'cpu-features', '*.node'],
});

/** Options for a bundle of `entry` written to `outfile`; its vendor files go to `<dir of outfile>/vendor/`. */
function nodeBundle({ entry, outfile, production = false, sourcemap = true, banner, absWorkingDir, metafile = false }) {
  return {
    ...common(production),
    entryPoints: [entry],
    outfile,
    sourcemap,
    metafile,
    plugins: [vendorPlugin],
    ...(banner ? { banner: { js: banner } } : {}),
    ...(absWorkingDir ? { absWorkingDir } : {}),
  };
}

/** Options for the vendor files, written to `outdir` (the bundle's folder + /vendor). */
function vendorBundles({ outdir, production = false, sourcemap = true, absWorkingDir, metafile = false }) {
  return {
    ...common(production),
    entryPoints: VENDOR.map((name) => ({ in: `src/vendor/${name}.ts`, out: name })),
    outdir,
    sourcemap,
    metafile,
    ...(absWorkingDir ? { absWorkingDir } : {}),
  };
}

/** The cloud reaper's actions (src/cloud-reaper/entries/), one standalone file each for DigitalOcean Functions'
 * Node.js 18 runtime: no vendor shim (the one vendor module they reach, dots-wrapper, is bundled in), no vscode. */
const REAPER_ACTIONS = ['list', 'destroy-old', 'destroy-all', 'destroy-self'];

function reaperBundles({ outdir, production = false, absWorkingDir, metafile = false }) {
  return {
    ...common(production),
    target: 'node18',
    external: [],
    entryPoints: REAPER_ACTIONS.map((name) => ({ in: `src/cloud-reaper/entries/${name}.ts`, out: name })),
    outdir,
    sourcemap: false,
    metafile,
    ...(absWorkingDir ? { absWorkingDir } : {}),
  };
}

module.exports = { VENDOR, REAPER_ACTIONS, nodeBundle, vendorBundles, reaperBundles };
