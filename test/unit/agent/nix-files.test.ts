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

const run = promisify(execFile);
const root = path.resolve(__dirname, '../../../..');
const nixDir = path.join(root, 'nix');
const agent = path.join(nixDir, 'agent', 'thebacknd-agent.sh');
const env = { ...process.env, NIX_CONFIG: 'experimental-features = nix-command' };

function nixFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? nixFiles(path.join(dir, e.name)) : e.name.endsWith('.nix') ? [path.join(dir, e.name)] : [],
  );
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
      lib = {
        mkOption = o: o;
        mkIf = c: v: if c then v else { };
        types = { bool = "bool"; str = "str"; enum = e: e; ints.positive = "int"; };
      };
      pkgs = {
        writeShellScriptBin = name: text: { inherit name text; outPath = "/stand-in/" + name; };
        bash = "bash"; coreutils = "coreutils"; curl = "curl"; jq = "jq"; gnugrep = "gnugrep"; gnused = "gnused"; util-linux = "util-linux"; openssh = "openssh";
      };
      config = {
        services.thebacknd = { enable = true; provider = "hetzner"; metadataUrl = "http://169.254.169.254"; credentialsTimeout = 900; };
        nix.package = "nix";
        systemd.package = "systemd";
      };
      m = import ${JSON.stringify(path.join(nixDir, 'module.nix'))} { inherit lib pkgs config; };
    in {
      services = m.config.systemd.services;
      timers = m.config.systemd.timers;
      script = (builtins.head m.config.environment.systemPackages).text;
      hostKeys = m.config.services.openssh.hostKeys;
    }`)) as {
    services: Record<string, { before?: string[]; after: string[]; requires?: string[]; environment: Record<string, string>; path: string[]; restartIfChanged: boolean; serviceConfig: Record<string, unknown> }>;
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
  assert.deepEqual(keys.before, ['sshd.service']);
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
