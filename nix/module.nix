# nixosModules.thebacknd: the boot agent. Two oneshot units run the same script (./agent/thebacknd-agent.sh):
#   thebacknd-keys   after network-online, before sshd and sshd-keygen: reads user-data, installs the pinned host
#                    key and the login keys, so that sshd never starts with a key the extension did not pin;
#   thebacknd-agent  after sshd (cache credentials may arrive over SSH) and after multi-user.target (see below):
#                    fetches the toplevel from the binary cache and switches to it, or runs the binary and powers off.
#   thebacknd-checkin (a timer, every 5 min): when user-data names a cloud reaper, asks its destroy-self web action
#                    to destroy this machine if its deadline passed, so it dies on time even when the reaper's
#                    scheduled trigger is down.
# All write their progress to the journal and to /run/thebacknd/agent.log (`thebacknd: stage=…` lines).
# `thebacknd-deploy` (./agent/thebacknd-deploy.sh) is on PATH for `thebacknd deploy`: a switch with magic rollback.
{ config, lib, pkgs, ... }:
let
  cfg = config.services.thebacknd;
  agent = pkgs.writeShellScriptBin "thebacknd-agent" (builtins.readFile ./agent/thebacknd-agent.sh);
  # Run over SSH by `thebacknd deploy` (a root login's PATH lacks jq): the tools it needs come with it.
  deploy = pkgs.writeShellScriptBin "thebacknd-deploy" ''
    export PATH=${lib.makeBinPath [ pkgs.bash pkgs.coreutils pkgs.jq pkgs.gnugrep pkgs.gnused pkgs.util-linux config.nix.package config.systemd.package ]}:$PATH
    ${builtins.readFile ./agent/thebacknd-deploy.sh}
  '';
  common = {
    # nftables: after the keys, the agent refuses non-root sockets the metadata address (lock_metadata).
    path = [ pkgs.bash pkgs.coreutils pkgs.curl pkgs.jq pkgs.gnugrep pkgs.gnused pkgs.util-linux pkgs.openssh pkgs.nftables config.nix.package config.systemd.package ];
    environment = {
      HOME = "/root";
      THEBACKND_PROVIDER = cfg.provider;
      THEBACKND_METADATA_URL = cfg.metadataUrl;
      THEBACKND_CREDENTIALS_TIMEOUT = toString cfg.credentialsTimeout;
    };
    # A switch must not restart or stop the unit that is running it, even when the new system lacks this module.
    restartIfChanged = false;
    stopIfChanged = false;
    unitConfig.X-StopOnRemoval = false;
  };
in
{
  options.services.thebacknd = {
    enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Run the Thebacknd boot agent (switch to the toplevel named in the machine's user-data).";
    };
    provider = lib.mkOption {
      type = lib.types.enum [ "auto" "digitalocean" "hetzner" ];
      default = "auto";
      description = "Which metadata service to read user-data from; auto tries both.";
    };
    metadataUrl = lib.mkOption {
      type = lib.types.str;
      default = "http://169.254.169.254";
      description = "Base URL of the cloud's metadata service.";
    };
    credentialsTimeout = lib.mkOption {
      type = lib.types.ints.positive;
      default = 900;
      description = "Seconds to wait for the cache credentials when user-data says the cache is private.";
    };
  };

  config = lib.mkIf cfg.enable {
    environment.systemPackages = [ agent deploy ];

    services.openssh = {
      enable = true;
      settings.PermitRootLogin = "prohibit-password";
      settings.PasswordAuthentication = false;
      # Only the key the agent installs from user-data: the extension pins exactly that one.
      hostKeys = [{ type = "ed25519"; path = "/etc/ssh/ssh_host_ed25519_key"; }];
    };

    nix.settings.experimental-features = [ "nix-command" "flakes" ];

    systemd.services.thebacknd-keys = common // {
      description = "Thebacknd: install the SSH keys from user-data";
      wantedBy = [ "multi-user.target" "sshd.service" ];
      # sshd-keygen makes the host keys sshd lacks: ours must be in place first, or it makes another.
      before = [ "sshd.service" "sshd-keygen.service" ];
      # After DigitalOcean's own key service, which only writes authorized_keys when the file does not exist yet.
      after = [ "network-online.target" "digitalocean-ssh-keys.service" "digitalocean-metadata.service" ];
      wants = [ "network-online.target" ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${agent}/bin/thebacknd-agent keys";
        RuntimeDirectory = "thebacknd";
        RuntimeDirectoryMode = "0700";
        RuntimeDirectoryPreserve = "yes";
        StandardOutput = "journal+console";
      };
    };

    systemd.services.thebacknd-agent = common // {
      description = "Thebacknd: switch to the toplevel named in user-data";
      wantedBy = [ "multi-user.target" ];
      requires = [ "thebacknd-keys.service" ];
      # After multi-user.target, as nixpkgs' amazon-init: a target waits for the units it wants unless they are
      # ordered after it, and switch-to-configuration restarts only active targets (pulling in their new wants).
      # Without this, multi-user.target is still waiting for this unit during the switch and the services the
      # toplevel adds stay down until a reboot. No unit may order itself after this one (it would wait for it).
      after = [ "multi-user.target" "thebacknd-keys.service" "sshd.service" "network-online.target" ];
      wants = [ "network-online.target" ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${agent}/bin/thebacknd-agent boot";
        # Fetching a large closure takes a while; the machine's deadline bounds it anyway.
        TimeoutStartSec = "2h";
        StandardOutput = "journal+console";
      };
    };

    systemd.services.thebacknd-checkin = common // {
      description = "Thebacknd: ask the cloud reaper to destroy this machine if it is due";
      after = [ "thebacknd-keys.service" "network-online.target" ];
      wants = [ "network-online.target" ];
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${agent}/bin/thebacknd-agent checkin";
        TimeoutStartSec = "5min";
      };
    };

    systemd.timers.thebacknd-checkin = {
      description = "Thebacknd: check in with the cloud reaper every few minutes";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnBootSec = "5min";
        OnUnitActiveSec = "5min";
        RandomizedDelaySec = "30s";
      };
      # Not stopped by a switch to a toplevel that lacks this module (as the services above are not).
      unitConfig.X-StopOnRemoval = false;
    };
  };
}
