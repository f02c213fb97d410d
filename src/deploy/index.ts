// Deploy to a running machine (build, push or copy what is missing, switch with magic rollback), vscode-free.

export { bytes, DEFAULT_DEPLOY_COMMAND, deployToMachine, newDeployId, type DeployOptions } from './deploy';
export { appendDeployHistory, currentToplevel, readDeployHistory, recordOf, type DeployRecord } from './history';
export { DeployOnSave, type Clock } from './on-save';
export { isDeployTerminal, parseDeployLine, type DeployLine } from './log';
export * from './types';
