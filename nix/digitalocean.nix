# What every Thebacknd machine on DigitalOcean runs: nixpkgs' DigitalOcean support (disk, network, metadata,
# console) with the agent reading DigitalOcean's user-data path. A toplevel meant for a DigitalOcean machine must
# import this module too: it replaces the image's system on the same disk.
{ modulesPath, ... }:
{
  imports = [
    (modulesPath + "/virtualisation/digital-ocean-config.nix")
    ./module.nix
  ];
  # Our user-data is JSON for the agent, not a configuration.nix to rebuild from.
  virtualisation.digitalOcean.rebuildFromUserData = false;
  services.thebacknd.provider = "digitalocean";
}
