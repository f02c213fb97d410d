import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPart, isStorePath, parseStorePath, requireStorePath } from '../../../src/nix/storePath';
import { UserError } from '../../../src/base/errors';

const H = 'chfc2igav0pdr0y3gjqiwvbi7c699q3d';

test('a bare store path is a toplevel', () => {
  const r = parseStorePath(`/nix/store/${H}-nixos-system-demo-23.05`);
  assert.deepEqual(r, { ok: true, value: { kind: 'toplevel', storePath: `/nix/store/${H}-nixos-system-demo-23.05`, hash: H, name: 'nixos-system-demo-23.05' } });
  assert.equal(isStorePath(`/nix/store/${H}-x`), true);
});

test('a path inside a store path is a binary, and names the store path to push', () => {
  const r = parseStorePath(`/nix/store/${H}-hello-2.12/bin/hello`);
  assert.ok(r.ok);
  assert.equal(r.value.kind, 'binary');
  assert.equal(r.value.storePath, `/nix/store/${H}-hello-2.12`);
  assert.equal(r.value.kind === 'binary' && r.value.subPath, 'bin/hello');
  assert.equal(isStorePath(`/nix/store/${H}-hello-2.12/bin/hello`), false);
});

test('one trailing slash on a toplevel is tolerated (shell completion adds it)', () => {
  const r = parseStorePath(`/nix/store/${H}-demo/`);
  assert.ok(r.ok && r.value.kind === 'toplevel' && r.value.storePath === `/nix/store/${H}-demo`);
});

test('anything else is refused, with a reason', () => {
  const bad: [string, RegExp][] = [
    ['', /empty/],
    [`/nix/store/${H}`, /hash, a dash and a name/],
    [`/nix/store/${H.slice(1)}-demo`, /32-character/],
    [`/nix/store/${H}x-demo`, /32-character/],
    [`/nix/store/${H.slice(0, 31)}e-demo`, /not a Nix hash/], // e is not in Nix's base-32 alphabet
    [`/nix/store/${H.toUpperCase()}-demo`, /not a Nix hash/],
    [`/nix/store/${H}-`, /name/],
    [`/nix/store/${H}-.hidden`, /name/],
    [`/nix/store/${H}-de mo`, /white space/],
    [`/nix/store/${H}-demo\n`, /white space/],
    [`/nix/store/${H}-demo/../etc/passwd`, /\.\./],
    [`/nix/store/${H}-demo/bin//x`, /empty segment/],
    [`/nix/store/${H}-demo/bin/`, /empty segment/],
    [`/nix/store/${H}-dem!o`, /characters Nix does not allow/],
    [`/gnu/store/${H}-demo`, /does not start with \/nix\/store\//],
    [`nix/store/${H}-demo`, /does not start/],
    [`/nix/store//${H}-demo`, /32-character|hash/],
    [`/nix/store/${H}-${'a'.repeat(212)}`, /longer than 211/],
  ];
  for (const [input, reason] of bad) {
    const r = parseStorePath(input);
    assert.equal(r.ok, false, `accepted ${JSON.stringify(input)}`);
    assert.match(!r.ok ? r.reason : '', reason, `reason for ${JSON.stringify(input)}`);
  }
});

test('requireStorePath explains a refusal as a UserError', () => {
  assert.throws(
    () => requireStorePath('/tmp/result'),
    (e: unknown) => e instanceof UserError && /"\/tmp\/result" is not a Nix store path: it does not start with \/nix\/store\//.test(e.message),
  );
  assert.equal(requireStorePath(`  /nix/store/${H}-demo  `).storePath, `/nix/store/${H}-demo`);
});

test('hashPart names the narinfo', () => {
  assert.equal(hashPart(`/nix/store/${H}-demo`), H);
  assert.throws(() => hashPart(`/nix/store/${H}-demo/bin/x`));
});
