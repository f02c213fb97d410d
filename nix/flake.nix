{
  description = "Thebacknd base image: NixOS that switches at boot to the toplevel named in its user-data";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs = { self, nixpkgs }:
    let
      system = "x86_64-linux";
      base = { system.stateVersion = "25.11"; };
      nixos = modules: nixpkgs.lib.nixosSystem { inherit system modules; };
    in
    {
      nixosModules = {
        # The agent alone (provider "auto").
        thebacknd = ./module.nix;
        # The agent plus each cloud's machine configuration: import one of these in a toplevel.
        digitalocean = ./digitalocean.nix;
        hetzner = ./hetzner.nix;
        default = self.nixosModules.thebacknd;
      };

      nixosConfigurations = {
        # The systems inside the base images.
        digitalocean = nixos [
          "${nixpkgs}/nixos/modules/virtualisation/digital-ocean-image.nix"
          self.nixosModules.digitalocean
          base
          # Since NixOS 24.11 the file is named from image.baseName (nixos-image-digital-ocean-<label>-<system>):
          # keep the fixed name Import Base Image looks for.
          { image.baseName = "nixos"; }
        ];
        hetzner = nixos [ ./hetzner-image.nix self.nixosModules.hetzner base ];
        # A toplevel to run on a DigitalOcean machine (use nixosModules.hetzner for Hetzner).
        example = nixos [ self.nixosModules.digitalocean ./example.nix ];
      };

      packages.${system} = {
        # result/nixos.qcow2.gz: import it as a DigitalOcean custom image.
        digitalocean-image = self.nixosConfigurations.digitalocean.config.system.build.digitalOceanImage;
        # result/nixos.img.zst: write it to a Hetzner server's disk from the rescue system, then snapshot it.
        hetzner-image = self.nixosConfigurations.hetzner.config.system.build.hetznerImage;
        example-toplevel = self.nixosConfigurations.example.config.system.build.toplevel;
        default = self.packages.${system}.digitalocean-image;
      };
    };
}
