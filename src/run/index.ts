// Run Toplevel, vscode-free: the state machine (orchestrate.ts), its real ports (ports.ts), the stages in words
// (stages.ts) and destroying a run's machine with its keys (destroy.ts).

export { installableOf, newRunId, runToplevel } from './orchestrate';
export {
  binaryPathOf,
  CLOSURE_READY_FILE,
  createRunPorts,
  credentialsFileFor,
  CREDENTIALS_FILE,
  isS3Url,
  outcomeOf,
  preflight,
  transferOf,
  trustedPublicKeyOf,
  type PortsOptions,
} from './ports';
export { describeStage, eventLine, STAGE_TITLES } from './stages';
export { destroyRunMachine } from './destroy';
export * from './types';
