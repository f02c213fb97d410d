# An example toplevel: the base system plus one web page. Build it with
#   nix build ./nix#nixosConfigurations.example.config.system.build.toplevel
# and hand the store path to `Thebacknd: Run Toplevel`. Your own flake does the same with
#   imports = [ thebacknd.nixosModules.digitalocean ];   # or .hetzner
{ pkgs, ... }:
{
  services.nginx = {
    enable = true;
    virtualHosts.default = {
      default = true;
      root = pkgs.writeTextDir "index.html" "<h1>Hello from a Thebacknd machine</h1>\n";
    };
  };
  networking.firewall.allowedTCPPorts = [ 80 ];
  system.stateVersion = "25.11";
}
