// The Nix side of Thebacknd, for the extension, the CLI and the run orchestration. Nothing here imports vscode, and
// the AWS SDK is only loaded when a bucket is first opened.

export { build, parseBuildJson, type BuildResult } from './build';
export { closureOf, parsePathInfoJson, topoSort, type PathInfo } from './closure';
export { findFlakes, flakeRef, listNixosConfigurations, toplevelInstallable } from './flake';
export { isExplicitInstallable, resolveTarget, type Target } from './installable';
export { push, type PushOptions, type PushProgress, type PushResult } from './push';
export { abortError, errorLines, INSTALL_HINT, resolveNix, type NixOptions } from './run';
export { Bucket, cacheCredentialsFromEnv, checkCacheSettings, explainS3Error, substituterUrl, type CacheCredentials } from './s3';
export { checkSigningKeyFile, defaultKeyName, generateSigningKey, isPublicKey, signClosure, type GeneratedKey } from './sign';
export { hashPart, isStorePath, parseStorePath, requireStorePath, STORE_DIR, type ParsedStorePath } from './storePath';
export { checkNix, MIN_NIX, parseNixVersion, type NixVersion } from './version';
