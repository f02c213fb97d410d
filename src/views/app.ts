// The app object: every service of one window, built once by extension.ts in a fixed order and disposed in reverse
// by one owner (views/owner.ts), as rust-analyzer's Ctx and GitLens' Container. Commands are functions of (ctx,
// vscode arguments). Declared here, in the lowest VS Code layer, so that commands/ and views/ both reach it downward;
// the parts it holds are built from `Services` (views/services.ts) and never import this file.

import type { KeyJanitor } from '../ssh/key-janitor';
import type { DeployState } from './deploys';
import type { Machines } from './machines';
import type { Runs } from './runs';
import type { Services } from './services';

export interface Ctx extends Services {
  /** The machine service, the tree, its refresh, the status-bar countdown and the reaper. */
  readonly machines: Machines;
  /** Run Toplevel's panels, boot logs and runs in progress. */
  readonly runs: Runs;
  /** Removes the keys of machines gone elsewhere; starts at activation. */
  readonly janitor: KeyJanitor;
  /** Deploy history and deploy-on-save of this window. */
  readonly deploys: DeployState;
}
