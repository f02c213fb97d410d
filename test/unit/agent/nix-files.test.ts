// The base-image flake cannot be built here (no nixpkgs offline): every .nix file must parse, the flake's outputs
// must have the promised shape when evaluated against a stand-in nixpkgs, and the agent script must be
// shellcheck-clean and be the very file the module runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { moduleStandIn } from '../../fixtures/nix-module-stand-in';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../../../..');
const nixDir = path.join(root, 'nix');
const agent = path.join(nixDir, 'agent', 'thebacknd-agent.sh');
const env = { ...process.env, NIX_CONFIG: 'experimental-features = nix-command' };

function nixFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? nixFiles(path.join(dir, e.name)) : e.name.endsWith('.nix') ? [path.join(dir, e.name)] : []));
}

async function evalJson(expr: string): Promise<unknown> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-nixeval-'));
  try {
    const file = path.join(dir, 'eval.nix');
    fs.writeFileSync(file, expr);
    const { stdout } = await run('nix', ['eval', '--json', '--file', file], { env, encoding: 'utf8' });
    return JSON.parse(stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('every .nix file under nix/ parses', async () => {
  const files = nixFiles(nixDir);
  assert.ok(files.length >= 5, `found ${files.length} .nix files`);
  for (const f of files) {
    await assert.doesNotReject(run('nix-instantiate', ['--parse', f], { env }), `${path.relative(root, f)} does not parse`);
  }
});

test('the agent script is shellcheck-clean', async () => {
  try {
    await run('shellcheck', ['--shell=bash', agent], { encoding: 'utf8' });
  } catch (err) {
    const e = err as Error & { stdout?: string };
    assert.fail(`shellcheck: ${e.stdout || e.message}`);
  }
});

test('the flake exports the module, both images and an example toplevel', async () => {
  const out = (await evalJson(`
    let
      flake = import ${JSON.stringify(path.join(nixDir, 'flake.nix'))};
      nixpkgs = {
        outPath = "/stand-in/nixpkgs";
        lib.nixosSystem = { system, modules }: {
          inherit system modules;
          config.system.build = { digitalOceanImage = "do-image"; hetznerImage = "hetzner-image"; toplevel = "toplevel"; };
        };
      };
      out = flake.outputs { self = out; inherit nixpkgs; };
      show = m: if builtins.isPath m || builtins.isString m then toString m else "inline";
    in {
      modules = builtins.mapAttrs (n: v: toString v) out.nixosModules;
      configs = builtins.mapAttrs (n: c: map show c.modules) out.nixosConfigurations;
      packages = out.packages.x86_64-linux;
    }`)) as { modules: Record<string, string>; configs: Record<string, string[]>; packages: Record<string, string> };
  assert.equal(out.modules.thebacknd, path.join(nixDir, 'module.nix'));
  assert.deepEqual(out.packages, {
    default: 'do-image',
    'digitalocean-image': 'do-image',
    'hetzner-image': 'hetzner-image',
    'example-toplevel': 'toplevel',
  });
  assert.ok(out.configs.digitalocean?.includes('/stand-in/nixpkgs/nixos/modules/virtualisation/digital-ocean-image.nix'));
  assert.ok(out.configs.digitalocean?.includes(path.join(nixDir, 'digitalocean.nix')));
  assert.ok(out.configs.hetzner?.includes(path.join(nixDir, 'hetzner-image.nix')));
  assert.deepEqual(out.configs.example, [path.join(nixDir, 'digitalocean.nix'), path.join(nixDir, 'example.nix')]);
  const doModule = fs.readFileSync(path.join(nixDir, 'digitalocean.nix'), 'utf8');
  assert.match(doModule, /virtualisation\.digitalOcean\.rebuildFromUserData = false;/);
});

test('the module runs the agent script in two units ordered around sshd', async () => {
  const out = (await evalJson(`
    let
${moduleStandIn(path.join(nixDir, 'module.nix'), 'hetzner')}
    in {
      services = m.config.systemd.services;
      timers = m.config.systemd.timers;
      script = (builtins.head m.config.environment.systemPackages).text;
      hostKeys = m.config.services.openssh.hostKeys;
    }`)) as {
    services: Record<
      string,
      {
        before?: string[];
        after: string[];
        requires?: string[];
        environment: Record<string, string>;
        path: string[];
        restartIfChanged: boolean;
        serviceConfig: Record<string, unknown>;
      }
    >;
    timers: Record<string, { wantedBy: string[]; timerConfig: Record<string, string>; unitConfig: Record<string, unknown> }>;
    script: string;
    hostKeys: { type: string; path: string }[];
  };
  assert.equal(out.script, fs.readFileSync(agent, 'utf8'), 'the module installs nix/agent/thebacknd-agent.sh as is');
  const keys = out.services['thebacknd-keys']!;
  const boot = out.services['thebacknd-agent']!;
  assert.equal(keys.serviceConfig.ExecStart, '/stand-in/thebacknd-agent/bin/thebacknd-agent keys');
  assert.equal(boot.serviceConfig.ExecStart, '/stand-in/thebacknd-agent/bin/thebacknd-agent boot');
  assert.ok(keys.after.includes('network-online.target'));
  // Before sshd-keygen too: it would make a host key of its own when ours is not there yet.
  assert.deepEqual(keys.before, ['sshd.service', 'sshd-keygen.service']);
  // After multi-user.target (as nixpkgs' amazon-init): the target is active when the switch starts its new wants.
  assert.ok(boot.after.includes('multi-user.target'));
  assert.ok(boot.after.includes('sshd.service') && boot.after.includes('thebacknd-keys.service'));
  assert.deepEqual(boot.requires, ['thebacknd-keys.service']);
  for (const unit of [keys, boot]) {
    assert.equal(unit.environment.THEBACKND_PROVIDER, 'hetzner');
    assert.equal(unit.restartIfChanged, false, 'a switch must not restart the unit running it');
    for (const tool of ['curl', 'jq', 'nix', 'openssh']) assert.ok(unit.path.includes(tool), `${tool} on the agent's PATH`);
  }
  assert.deepEqual(out.hostKeys, [{ type: 'ed25519', path: '/etc/ssh/ssh_host_ed25519_key' }]);
  // The cloud reaper check-in: the same script's `checkin` phase, every 5 minutes from boot, kept across switches.
  const checkin = out.services['thebacknd-checkin']!;
  assert.equal(checkin.serviceConfig.ExecStart, '/stand-in/thebacknd-agent/bin/thebacknd-agent checkin');
  assert.ok(checkin.path.includes('curl') && checkin.path.includes('jq'));
  const timer = out.timers['thebacknd-checkin']!;
  assert.deepEqual(timer.wantedBy, ['timers.target']);
  assert.equal(timer.timerConfig.OnUnitActiveSec, '5min');
  assert.equal(timer.unitConfig['X-StopOnRemoval'], false);
});

// Every option path the modules set must exist in nixpkgs. The list is taken from nixpkgs' own source, read in
// NixOS/nixpkgs (commits of the copies read): nixos/modules/virtualisation/digital-ocean-image.nix (the NixOS >= 24.11
// copy: imports ../image/file-options.nix, passes image.baseName to make-disk-image), nixos/modules/image/
// file-options.nix @ 5e3666d1e47b01abe7ec65a20e421dc6c871f82d (image.baseName), digital-ocean-config.nix @
// 7ffc93292cde32fb73e4ed68c2170070cfb6f7ae, amazon-init.nix @ 0cb721dfa2c64800e4961fe71dac8bf73cf88bf8 (the unit
// options a user-data unit sets: wantedBy, after, requires, restartIfChanged, unitConfig.X-StopOnRemoval,
// serviceConfig), hcloud-config.nix @ b53840e56458f970a9d879b10ca8c901071a7ec3 (boot.growPartition, fileSystems."/"
// device/fsType/autoResize, boot.loader.grub.device, networking.useNetworkd/useDHCP, services.openssh.enable/
// settings.PermitRootLogin), switch-to-configuration-ng main.rs @ 00401fd7e581bc669e0cc61c088427d336031312.
// Timers: nixos/lib/systemd-unit-options.nix @ 01f31c2ee7d045a337dff0f858c0ed61dd0f4ddb (commonUnitOptions:
// description, wantedBy, unitConfig; timerOptions: timerConfig).
// `<name>` is any attribute name; a trailing `.*` is a freeform attribute set (any key below).
const NIXPKGS_OPTIONS = [
  'environment.systemPackages',
  'services.openssh.enable',
  'services.openssh.settings.PermitRootLogin',
  'services.openssh.settings.PasswordAuthentication',
  'services.openssh.hostKeys',
  'nix.settings.experimental-features',
  ...['description', 'wantedBy', 'before', 'after', 'wants', 'requires', 'path', 'environment.*', 'restartIfChanged', 'stopIfChanged', 'unitConfig.*', 'serviceConfig.*'].map(
    (o) => `systemd.services.<name>.${o}`,
  ),
  ...['description', 'wantedBy', 'unitConfig.*', 'timerConfig.*'].map((o) => `systemd.timers.<name>.${o}`),
  'virtualisation.digitalOcean.rebuildFromUserData',
  'image.baseName',
  'boot.loader.grub.device',
  'boot.growPartition',
  'boot.initrd.availableKernelModules',
  'boot.kernelParams',
  'fileSystems.<name>.device',
  'fileSystems.<name>.fsType',
  'fileSystems.<name>.autoResize',
  'networking.useNetworkd',
  'networking.useDHCP',
  'networking.firewall.allowedTCPPorts',
  'system.stateVersion',
  'system.build.*',
  'services.nginx.enable',
  'services.nginx.virtualHosts.<name>.default',
  'services.nginx.virtualHosts.<name>.root',
  // Declared by nix/module.nix itself.
  'services.thebacknd.enable',
  'services.thebacknd.provider',
  'services.thebacknd.metadataUrl',
  'services.thebacknd.credentialsTimeout',
];

function known(p: string): boolean {
  return NIXPKGS_OPTIONS.some((o) => {
    const re = new RegExp(
      `^${o
        .replace(/[.+]/g, '\\$&')
        .replace('<name>', '[^.]+')
        .replace(/\\\.\*$/, '\\..+')}$`,
    );
    return re.test(p);
  });
}

test('every option path the modules set is a nixpkgs option (list from the nixpkgs source, commits above)', async () => {
  const standIn = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-standin-'));
  fs.mkdirSync(path.join(standIn, 'nixos', 'modules'), { recursive: true });
  fs.mkdirSync(path.join(standIn, 'nixos', 'lib'), { recursive: true });
  // make-disk-image's arguments come back as the "image", so that they are walked too (system.build.* is freeform).
  fs.writeFileSync(path.join(standIn, 'nixos', 'lib', 'make-disk-image.nix'), 'args: "disk-image"');
  try {
    const paths = (await evalJson(`
      let
        wrap = t: v: { _type = t; content = v; };
        lib = {
          mkOption = o: o; mkDefault = wrap "override"; mkForce = wrap "override";
          mkIf = c: v: { _type = "if"; content = v; };
          types = { bool = "bool"; str = "str"; enum = e: e; ints.positive = "int"; };
        };
        pkgs = {
          writeShellScriptBin = name: text: { inherit name text; outPath = "/stand-in/" + name; };
          writeTextDir = name: text: { outPath = "/stand-in/" + name; };
          bash = "bash"; coreutils = "coreutils"; curl = "curl"; jq = "jq"; gnugrep = "gnugrep"; gnused = "gnused"; util-linux = "util-linux"; openssh = "openssh"; nftables = "nftables"; zstd = "zstd";
        };
        config = {
          services.thebacknd = { enable = true; provider = "auto"; metadataUrl = "http://169.254.169.254"; credentialsTimeout = 900; };
          nix.package = "nix"; systemd.package = "systemd";
        };
        args = { inherit lib pkgs config; modulesPath = "${standIn}/nixos/modules"; };
        load = m: let v = if builtins.isFunction m then m args else m; in if v ? config then v.config else removeAttrs v [ "imports" "options" ];
        leaves = prefix: v:
          if builtins.isAttrs v && v ? _type then leaves prefix v.content
          else if builtins.isAttrs v && !(v ? outPath) && v != { } then
            builtins.concatLists (builtins.attrValues (builtins.mapAttrs (n: x: leaves (prefix ++ [ n ]) x) v))
          else [ (builtins.concatStringsSep "." prefix) ];
        flake = import ${JSON.stringify(path.join(nixDir, 'flake.nix'))};
        nixpkgs = { outPath = "${standIn}"; lib.nixosSystem = { system, modules }: { inherit modules; config.system.build = { }; }; };
        out = flake.outputs { self = out; inherit nixpkgs; };
        # Inline modules of the flake (attribute sets and functions), and every module file under nix/.
        inline = builtins.filter (m: !(builtins.isPath m || builtins.isString m)) (builtins.concatLists (map (c: c.modules) (builtins.attrValues out.nixosConfigurations)));
        files = map (f: ${JSON.stringify(nixDir)} + "/" + f) [ "module.nix" "digitalocean.nix" "hetzner.nix" "hetzner-image.nix" "example.nix" ];
      in builtins.concatLists (map (m: leaves [ ] (load m)) (inline ++ map import files))
    `)) as string[];
    assert.ok(paths.includes('image.baseName') && paths.includes('systemd.services.thebacknd-agent.after'), paths.join(' '));
    const unknown = [...new Set(paths)].filter((p) => !known(p));
    assert.deepEqual(unknown, [], `option paths not in nixpkgs' list: ${unknown.join(', ')}`);
  } finally {
    fs.rmSync(standIn, { recursive: true, force: true });
  }
});

test('the DigitalOcean image keeps the file name Import Base Image looks for (result/nixos.qcow2.gz)', async () => {
  const flake = fs.readFileSync(path.join(nixDir, 'flake.nix'), 'utf8');
  assert.match(flake, /image\.baseName = "nixos";/);
  assert.match(flake, /github:NixOS\/nixpkgs\/nixos-25\.11/);
});
