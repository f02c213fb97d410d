// package.json is the contract with VS Code: every command categorised with an icon, every setting documented and
// bounded, and the settings the code reads declared there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULTS } from '../../src/base/settings';

const root = path.resolve(__dirname, '../../..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const props: Record<string, { default: unknown; markdownDescription?: string; description?: string; minimum?: number; maximum?: number }> =
  pkg.contributes.configuration.properties;

test('every command has the Thebacknd category, a title and a codicon', () => {
  for (const c of pkg.contributes.commands) {
    assert.equal(c.category, 'Thebacknd', c.command);
    assert.ok(c.title, c.command);
    assert.match(c.icon ?? '', /^\$\([a-z-]+\)$/, `${c.command} icon`);
    assert.match(c.command, /^thebacknd\.([a-z]+\.)?[a-zA-Z]+$/);
  }
});

test("the mission's commands are all declared", () => {
  const titles = new Set(pkg.contributes.commands.map((c: { title: string }) => c.title.replace(/…$/, '')));
  for (const t of [
    'Run Toplevel',
    'Build Toplevel',
    'Push to Cache',
    'Refresh',
    'Destroy',
    'Destroy All',
    'Destroy Old',
    'Open Terminal',
    'Show Boot Log',
    'Copy IP',
    'Extend',
    'Set Token',
  ])
    assert.ok(titles.has(t), t);
});

test('menus reference declared commands only, and Destroy sits in its own destructive group', () => {
  const ids = new Set(pkg.contributes.commands.map((c: { command: string }) => c.command));
  const menus = pkg.contributes.menus as Record<string, { command: string; group?: string }[]>;
  for (const entries of Object.values(menus)) for (const e of entries) assert.ok(ids.has(e.command), e.command);
  const destroy = menus['view/item/context']!.filter((e) => e.command === 'thebacknd.machine.destroy');
  assert.ok(destroy.length > 0 && destroy.every((e) => e.group?.startsWith('9_destructive')));
  const inline = menus['view/item/context']!.filter((e) => e.group?.startsWith('inline')).map((e) => e.command);
  assert.deepEqual(new Set(inline), new Set(['thebacknd.machine.openTerminal', 'thebacknd.machine.showBootLog']));
});

test('every setting has a description; numbers have bounds that contain their default', () => {
  for (const [key, p] of Object.entries(props)) {
    assert.ok((p.markdownDescription ?? p.description ?? '').length > 10, `${key} description`);
    if (typeof p.default === 'number') {
      assert.ok(p.minimum !== undefined && p.maximum !== undefined, `${key} bounds`);
      assert.ok(p.minimum! <= p.default && p.default <= p.maximum!, `${key} default in bounds`);
    }
  }
  assert.equal(props['thebacknd.maxAgeMinutes']!.default, 60);
  assert.equal(props['thebacknd.reapIntervalMinutes']!.default, 20);
});

test("the manifest defaults are the code's defaults", () => {
  const flat = (o: object, prefix: string): [string, unknown][] =>
    Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' ? flat(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v]]));
  const rename: Record<string, string> = {
    'thebacknd.keepWorkersOnFailure': 'thebacknd.workers.keepOnFailure',
    'thebacknd.keepRunOnFailure': 'thebacknd.run.keepOnFailure',
  };
  const typed = new Set<string>();
  for (const [k, v] of flat(DEFAULTS, 'thebacknd.')) {
    const key = rename[k] ?? k;
    typed.add(key);
    assert.ok(Object.hasOwn(props, key), `${key} declared`);
    assert.deepEqual(props[key]!.default, v, key);
  }
  // The other way round: every declared setting is read through the typed Settings, none straight from VS Code.
  for (const key of Object.keys(props)) assert.ok(typed.has(key), `${key} is in the typed Settings (src/base/settings.ts)`);
});

test('the welcome view offers both token buttons while no token is set', () => {
  const w = pkg.contributes.viewsWelcome.find((v: { when: string }) => v.when === '!thebacknd.hasToken');
  assert.match(w.contents, /\[Set DigitalOcean Token\]\(command:thebacknd\.setDigitalOceanToken\)/);
  assert.match(w.contents, /\[Set Hetzner Token\]\(command:thebacknd\.setHetznerToken\)/);
});

test('.vscodeignore is an allow-list', () => {
  const lines = fs
    .readFileSync(path.join(root, '.vscodeignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  assert.equal(lines[0], '**');
  assert.ok(lines.includes('!dist/extension.js'));
});

test('a workspace cannot say where credentials go or which key signs: those settings are machine-scoped', () => {
  // A token command is run by the extension: a repository's settings naming one would run its code.
  const routing = [
    'digitalocean.endpoint',
    'hetzner.endpoint',
    'digitalocean.tokenCommand',
    'hetzner.tokenCommand',
    'cache.endpoint',
    'cache.bucket',
    'cache.publicUrl',
    'cache.private',
    'cache.signingKeyFile',
    'cache.trustedPublicKey',
    'cache.forcePathStyle',
  ];
  for (const k of routing) {
    const scope = (props[`thebacknd.${k}`] as { scope?: string } | undefined)?.scope;
    assert.ok(scope === 'machine' || scope === 'application', `thebacknd.${k} has scope ${scope ?? '(window)'}`);
  }
  const caps = pkg.capabilities as { untrustedWorkspaces?: { supported: unknown; description?: string }; virtualWorkspaces?: { supported: unknown } } | undefined;
  assert.equal(caps?.untrustedWorkspaces?.supported, 'limited');
  assert.match(caps?.untrustedWorkspaces?.description ?? '', /trusted folder/);
  assert.ok(caps?.virtualWorkspaces, 'virtualWorkspaces is declared');
  const needTrust = pkg.contributes.commands.filter((c: { enablement?: string }) => c.enablement === 'isWorkspaceTrusted').map((c: { command: string }) => c.command);
  for (const c of ['thebacknd.runToplevel', 'thebacknd.buildToplevel', 'thebacknd.buildOnWorkers']) assert.ok(needTrust.includes(c), `${c} needs a trusted folder`);
});

test('the walkthrough: every step has its media, and completes on a declared command, setting or a context key the code sets', async () => {
  const { ORDER } = await import('../../src/setup/checks');
  const { WALKTHROUGH_KEYS } = await import('../../src/setup/walkthrough');
  const ids = new Set(pkg.contributes.commands.map((c: { command: string }) => c.command));
  // Context keys: literal setContext calls, the per-check keys, and WALKTHROUGH_KEYS entries passed to setContext.
  const contextKeys = new Set<string>(ORDER.map((id) => `thebacknd.setup.${id}`));
  const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
  for (const file of walk(path.join(root, 'src')).filter((f) => f.endsWith('.ts'))) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/'setContext',\s*'([^']+)'/g)) contextKeys.add(m[1]!);
    for (const m of text.matchAll(/'setContext',\s*WALKTHROUGH_KEYS\.(\w+)/g)) contextKeys.add(WALKTHROUGH_KEYS[m[1] as keyof typeof WALKTHROUGH_KEYS]);
  }
  const [w] = pkg.contributes.walkthroughs as {
    title: string;
    steps: { id: string; description: string; media: { markdown?: string; image?: string }; completionEvents: string[] }[];
  }[];
  assert.equal(w!.title, 'Get started with Thebacknd');
  assert.deepEqual(
    w!.steps.map((s) => s.id),
    ['token', 'cache', 'signingKey', 'image', 'run'],
  );
  for (const step of w!.steps) {
    const media = step.media.markdown ?? step.media.image;
    assert.ok(media && fs.existsSync(path.join(root, media)), `${step.id}: media ${media}`);
    assert.ok(step.completionEvents.length > 0, `${step.id} completes by itself`);
    for (const ev of step.completionEvents) {
      const [kind, arg] = [ev.slice(0, ev.indexOf(':')), ev.slice(ev.indexOf(':') + 1)];
      if (kind === 'onCommand') assert.ok(ids.has(arg), `${step.id}: ${ev} names a declared command`);
      else if (kind === 'onSettingChanged') assert.ok(Object.hasOwn(props, arg), `${step.id}: ${ev} names a declared setting`);
      else if (kind === 'onContext') for (const key of arg.match(/thebacknd\.[\w.]+/g) ?? []) assert.ok(contextKeys.has(key), `${step.id}: ${ev}: ${key} is set by the code`);
      else assert.fail(`${step.id}: unexpected completion event ${ev}`);
    }
    for (const m of step.description.matchAll(/\(command:([\w.]+)/g)) {
      assert.ok(ids.has(m[1]!) || m[1] === 'workbench.action.openSettings', `${step.id}: button ${m[1]} is a declared command`);
    }
  }
});
