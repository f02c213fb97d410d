# system.build.hetznerImage: a raw disk image (MBR, one ext4 partition labelled nixos), zstd-compressed, to be
# written to a server's disk from Hetzner's rescue system (Hetzner imports no images) and snapshotted.
{ config, lib, pkgs, modulesPath, ... }:
{
  system.build.hetznerImage = import (modulesPath + "/../lib/make-disk-image.nix") {
    inherit config lib pkgs;
    name = "thebacknd-hetzner-image";
    format = "raw";
    partitionTableType = "legacy";
    diskSize = "auto";
    copyChannel = false;
    postVM = ''
      ${pkgs.zstd}/bin/zstd -T0 --rm -q $diskImage -o $out/nixos.img.zst
    '';
  };
}
