# What every Thebacknd machine on Hetzner Cloud runs: an x86-64 KVM guest booting with GRUB (BIOS) from /dev/sda, the root
# file system grown to the server's disk, DHCP networking, and the agent reading Hetzner's user-data path. A
# toplevel meant for a Hetzner machine must import this module too.
{ lib, modulesPath, ... }:
{
  imports = [
    (modulesPath + "/profiles/qemu-guest.nix")
    ./module.nix
  ];
  boot.loader.grub.device = lib.mkDefault "/dev/sda";
  boot.growPartition = true;
  boot.initrd.availableKernelModules = [ "virtio_scsi" "virtio_pci" "sd_mod" "ahci" ];
  # Hetzner's web console is the VGA screen (tty0); the serial console stays for logs. The last one is /dev/console.
  boot.kernelParams = [ "console=ttyS0" "console=tty0" ];
  fileSystems."/" = lib.mkDefault {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
    autoResize = true;
  };
  # Hetzner hands out the public IPv4 over DHCP. IPv6 would need the metadata's network-config (no router
  # advertisements): Thebacknd refuses IPv6-only Hetzner machines instead (src/providers/hetzner-image-support.ts).
  networking.useNetworkd = lib.mkDefault true;
  networking.useDHCP = lib.mkDefault true;
  services.thebacknd.provider = "hetzner";
}
