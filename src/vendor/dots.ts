// dots-wrapper (the DigitalOcean client, with axios and mime-db: half of what activation would otherwise parse), as
// the rest of the code reaches it: through `await import('../vendor/dots')`, which the bundle resolves to its own
// file (dist/vendor/dots.js, scripts/esbuild-options.cjs). Loaded on the first DigitalOcean request.
export { createApiClient } from 'dots-wrapper';
