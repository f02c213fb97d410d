// What Deploy to Machine keeps per window: the deploy history shown in the tree and the panels (by run id), the last
// deploy (the target of deploy on save) and the on-save scheduler with its file watchers. Plain state, owned by the
// app; commands/deploy.ts fills it and decorates the tree on its first use.

import type * as vscode from 'vscode';
import type { DeployOnSave, DeployPayload, DeployRecord } from '../deploy';
import type { Machine } from '../providers/types';

export interface DeployState {
  readonly history: Map<string, DeployRecord[]>;
  last?: { machine: Machine; payload: DeployPayload; flakeDir?: string; deployCommand?: string };
  onSave?: { scheduler: DeployOnSave; watchers: vscode.Disposable[]; key: string };
  /** The tree shows deploy results from the first deploy command on. */
  decorating: boolean;
  dispose(): void;
}

export function createDeployState(): DeployState {
  const state: DeployState = {
    history: new Map(),
    decorating: false,
    dispose() {
      void state.onSave?.scheduler.dispose();
      for (const w of state.onSave?.watchers ?? []) w.dispose();
      state.onSave = undefined;
    },
  };
  return state;
}
