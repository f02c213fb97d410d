// Build on Ephemeral Workers: cloud machines as Nix remote builders, destroyed however the build ends. vscode-free.

export { buildOnWorkers, checkRequest, planWorkers } from './orchestrate';
export { WorkerPool } from './pool';
export { remoteBuild, remoteBuildArgs, type RemoteBuildOptions } from './remote-build';
export { builderKeyPath, builderUri, buildersValue, parseBuildingOn, systemsFor, workerBuilderLine, workerStoreUrl, WORKER_FEATURES } from './builders';
export { availableSizes, billed, billingRule, costReport, estimate, money, priceIn, sizeRows, sizeSummary, TABLE_HEADER, type Estimate } from './cost';
export { shellForMachine, workerShell, type WorkerShell, type WorkerShellInput } from './shell-env';
export { listPackages } from './installables';
export * from './types';
