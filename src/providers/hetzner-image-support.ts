// What the Thebacknd base image cannot boot on Hetzner, refused before anything is created (issue #15):
// - Arm types (cax…): the image is built for x86_64-linux with GRUB on BIOS; Hetzner's Arm servers boot only UEFI
//   images of their own architecture, and no aarch64 image is built (nix/flake.nix).
// - IPv6-only servers: the image configures its network by DHCP, which on Hetzner gives IPv4 only. IPv6 there
//   comes from the metadata's network-config (no router advertisements), which the image does not apply, so such a
//   machine could reach neither the binary cache nor SSH over IPv4.

import type { CreateRequest } from './types';

export const HETZNER_ARM_SIZE = /^cax/i;

/** Why a create request cannot boot the base image on Hetzner, or undefined when it can. */
export function hetznerCreateProblem(req: Pick<CreateRequest, 'size' | 'ipv4'>): string | undefined {
  if (HETZNER_ARM_SIZE.test(req.size)) {
    return `Hetzner Arm server types (${req.size}) are not supported: the Thebacknd base image is x86-64 only (BIOS boot). Choose an x86 type such as cx22, cpx11 or ccx13.`;
  }
  if (req.ipv4 === false) {
    return 'IPv6-only Hetzner machines are not supported: the Thebacknd base image gets its address by DHCP, which on Hetzner is IPv4 only, so the machine could not reach your binary cache. Create it with an IPv4 address (drop --ipv6-only).';
  }
  return undefined;
}
