// What the "Get started with Thebacknd" walkthrough completes on, and the example flake it offers. vscode-free.
// The manifest test checks that every step's completion event names a command, a setting or one of these keys.

import type { ProviderId } from '../providers/types';

/** Context keys the extension sets for the walkthrough (besides thebacknd.hasToken and thebacknd.setup.<check>). */
export const WALKTHROUGH_KEYS = {
  /** The user picked a cache, or no cache, in "Choose Binary Cache…". */
  cacheChosen: 'thebacknd.setup.cacheChosen',
  /** A Run Toplevel ended with a ready machine. */
  firstMachine: 'thebacknd.setup.firstMachine',
} as const;

/** A flake.nix for the workspace: nix/example.nix on the base image's module for `provider`. */
export function exampleFlake(thebackndNixDir: string, provider: ProviderId): string {
  return `{
  description = "A first Thebacknd machine: nginx serving one page";

  # The Thebacknd module (the boot agent plus the cloud's machine settings), from the copy inside the extension.
  # Pin it elsewhere if you like: any flake exporting nixosModules.${provider} works.
  inputs.thebacknd.url = "path:${thebackndNixDir}";
  inputs.nixpkgs.follows = "thebacknd/nixpkgs";

  outputs = { self, nixpkgs, thebacknd }: {
    # Thebacknd: Run Toplevel offers every nixosConfigurations entry.
    nixosConfigurations.example = nixpkgs.lib.nixosSystem {
      system = "x86_64-linux";
      modules = [ thebacknd.nixosModules.${provider} ./example.nix ];
    };
  };
}
`;
}
