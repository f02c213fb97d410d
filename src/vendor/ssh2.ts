// ssh2, as the rest of the code reaches it: through `await import('../vendor/ssh2')`, which the bundle resolves to its
// own file (dist/vendor/ssh2.js, scripts/esbuild-options.cjs), so activation neither loads nor parses it.
export * from 'ssh2';
