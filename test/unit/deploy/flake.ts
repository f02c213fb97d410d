// The flake the deploy tests change one line of. Its toplevels do what matters of a NixOS switch on a test host:
// stop the old generation's service, point /run/current-system at themselves, keep sshd running (a real switch
// restarts sshd.service), and start their own service — an HTTP server on SERVICE_PORT answering the greeting.
// `nixosConfigurations.nossh` is the same system with a switch that kills sshd, as a broken firewall or sshd
// configuration would: the machine must roll itself back.
//
// The greeting is read from the running system (/run/current-system/greeting), so the service binary is the same
// store path in every version: a one-line change makes only the greeting and the toplevel new.

import fs from 'node:fs';
import path from 'node:path';
import { mkPlainDerivation } from '../../fixtures/plain-derivation';
import { SERVICE_PORT } from '../../fixtures/testhost';

export interface DeployFlake {
  dir: string;
  /** Rewrites the one line that holds the version; what the service answers afterwards. */
  setVersion(v: string): string;
  greetingOf(v: string): string;
}

export function writeDeployFlake(parent: string, nonce: string): DeployFlake {
  const dir = path.join(parent, `deploy-flake-${nonce}`);
  fs.mkdirSync(dir, { recursive: true });
  const greetingOf = (v: string): string => `deploy ${nonce} ${v}`;
  const write = (v: string): void => {
    const flake = String.raw`{
  outputs = { self }: let
    version = "${v}";
${mkPlainDerivation()}
    service = mk "deploy-e2e-service" ''
      mkdir -p $out/bin
      cat > $out/bin/service <<EOF
      #!/bin/sh
      exec ${process.execPath} -e "require('http').createServer((q, r) => r.end(require('fs').readFileSync('/run/current-system/greeting'))).listen(${SERVICE_PORT})"
      EOF
      chmod +x $out/bin/service
    '';
    system = name: sshd: mk name ''
      mkdir -p $out/bin
      echo '${nonce} ${'$'}{version}' > $out/version
      printf 'deploy ${nonce} %s' "${'$'}{version}" > $out/greeting
      cat > $out/bin/switch-to-configuration <<EOF
      #!/bin/sh
      [ "\$1" = switch ] || { echo "unsupported action \$1" >&2; exit 2; }
      old=\$(cat /run/deploy-e2e-service.pid 2>/dev/null)
      [ -n "\$old" ] && kill "\$old" 2>/dev/null && echo "stopped the service of the previous generation (\$old)"
      ln -sfn $out /run/current-system
      ${'$'}{sshd}
      setsid ${'$'}{service}/bin/service </dev/null >/run/deploy-e2e-service.log 2>&1 &
      echo \$! > /run/deploy-e2e-service.pid
      echo "activated $out"
      EOF
      chmod +x $out/bin/switch-to-configuration
    '';
    keepSshd = "kill -0 \\$(cat /run/sshd.pid 2>/dev/null) 2>/dev/null || /usr/sbin/sshd -f /etc/ssh/sshd_config";
    killSshd = "kill \\$(cat /run/sshd.pid) && echo 'sshd stopped'";
  in {
    nixosConfigurations.svc = { config.system.build.toplevel = system "nixos-system-deploy-e2e" keepSshd; };
    nixosConfigurations.nossh = { config.system.build.toplevel = system "nixos-system-deploy-e2e-nossh" killSshd; };
  };
}
`;
    fs.writeFileSync(path.join(dir, 'flake.nix'), flake);
  };
  write('v1');
  return {
    dir,
    greetingOf,
    setVersion(v) {
      const file = path.join(dir, 'flake.nix');
      const text = fs.readFileSync(file, 'utf8');
      fs.writeFileSync(file, text.replace(/^ {4}version = ".*";$/m, `    version = "${v}";`));
      return greetingOf(v);
    },
  };
}
