// Parsers fed with output captured from Nix 2.8 (this machine) and from newer Nix (2.18+, Lix, Determinate).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRecentEnough, parseNixVersion } from '../../../src/nix/version';
import { parseBuildJson } from '../../../src/nix/build';
import { parsePathInfoJson, topoSort } from '../../../src/nix/closure';
import { errorLines, nixFailure } from '../../../src/nix/run';
import { parseNarInfo, placeholderNarInfo, sha256Hex } from '../../../src/nix/narinfo';
import { isExplicitInstallable } from '../../../src/nix/installable';
import { attrName, toplevelInstallable } from '../../../src/nix/flake';
import { cacheFromFlags } from '../../../src/cli/cache-flags';
import { substituterUrl } from '../../../src/nix/s3';
import { DEFAULTS } from '../../../src/base/settings';
import { UserError } from '../../../src/base/errors';

const A = '/nix/store/sj57xbdbnacl24mi5n8zzp21323ashy2-a';
const B = '/nix/store/z181livk18qcnsni48dll3w1idfy0wph-b';
const C = '/nix/store/03rjhzm7jjkzr50r1cnw527djirqcgm2-c';

test('nix --version of every flavour, and the 2.4 floor', () => {
  const cases: [string, string, boolean][] = [
    ['nix (Nix) 2.8.0\n', '2.8.0', true],
    ['nix (Nix) 2.24.10', '2.24.10', true],
    ['nix (Determinate Nix 3.6.2) 2.29.0', '2.29.0', true],
    ['nix (Lix, like Nix) 2.91.1', '2.91.1', true],
    ['nix-env (Nix) 2.3.16', '2.3.16', false],
    ['nix (Nix) 2.4', '2.4.0', true],
  ];
  for (const [out, text, ok] of cases) {
    const v = parseNixVersion(out);
    assert.equal(v?.text, text, out);
    assert.equal(isRecentEnough(v!), ok, out);
  }
  assert.equal(parseNixVersion('command not found'), undefined);
});

test('nix build --json: derivation outputs (out first) and plain store paths', () => {
  assert.deepEqual(parseBuildJson(`[{"drvPath":"/nix/store/lm5p0vad0mdn5i1wg6gc713hhdz12cvd-b.drv","outputs":{"out":"${B}"}}]\n`), [B]);
  assert.deepEqual(parseBuildJson(`[{"drvPath":"x.drv","outputs":{"dev":"${A}","out":"${B}"}},{"path":"${C}"}]`), [B, A, C]);
  assert.throws(() => parseBuildJson('building…'), /did not print the JSON/);
  assert.throws(() => parseBuildJson('[{"outputs":{"out":"/tmp/evil"}}]'), /not a store path/);
});

test('nix path-info --json: the 2.8 array and the newer object are read alike', () => {
  const old = JSON.stringify([
    { path: B, narHash: 'sha256-RS8=', narSize: 496, references: [A], signatures: ['k:1'] },
    { path: A, narHash: 'sha256-D+O=', narSize: 288, references: [], signatures: [] },
  ]);
  const newer = JSON.stringify({
    [B]: { narHash: 'sha256-RS8=', narSize: 496, references: [A], signatures: ['k:1'], ca: null },
    [A]: { narHash: 'sha256-D+O=', narSize: 288, references: [], signatures: [] },
  });
  for (const out of [old, newer]) {
    const infos = topoSort(parsePathInfoJson(out));
    assert.deepEqual(
      infos.map((i) => i.path),
      [A, B],
    );
    assert.equal(infos[1]?.narSize, 496);
    assert.deepEqual(infos[1]?.references, [A]);
  }
  assert.throws(() => parsePathInfoJson(JSON.stringify({ [A]: null })), /not in the local Nix store/);
});

test('topoSort puts references first and ignores self-references', () => {
  const mk = (path: string, references: string[]) => ({ path, narHash: '', narSize: 0, references, signatures: [] });
  const sorted = topoSort([mk(C, [B, A, C]), mk(A, [A]), mk(B, [A])]).map((i) => i.path);
  assert.deepEqual(sorted, [A, B, C]);
});

test('the lines that matter: Nix 2.8 build failure', () => {
  const stderr = [
    "building '/nix/store/x-fail.drv'...",
    'fail> about to fail on purpose',
    "error: builder for '/nix/store/x-fail.drv' failed with exit code 3;",
    '       last 1 log lines:',
    '       > about to fail on purpose',
    "       For full logs, run 'nix log /nix/store/x-fail.drv'.",
  ];
  const e = nixFailure('Building .#failing', stderr, 1, null);
  assert.equal(e.message, "Building .#failing failed: builder for '/nix/store/x-fail.drv' failed with exit code 3");
  assert.match(e.detail ?? '', /> about to fail on purpose/);
  assert.doesNotMatch(e.detail ?? '', /^building/m);
});

test('the lines that matter: newer Nix puts the cause on an indented error line', () => {
  const stderr = [
    'error:',
    "       … while evaluating the attribute 'packages.x86_64-linux.broken'",
    '         at /nix/store/abc-source/flake.nix:44:9:',
    '',
    '       error: thebacknd test: deliberate evaluation error',
  ];
  const e = nixFailure('Building .#broken', stderr, 1, null);
  assert.equal(e.message, 'Building .#broken failed: thebacknd test: deliberate evaluation error');
  assert.equal(errorLines(['noise', 'more noise']).length, 2, 'without an error line, the tail is kept');
  assert.match(nixFailure('X', [], null, 'SIGKILL').message, /was killed \(SIGKILL\)/);
});

test('narinfo fields, and placeholders that Nix accepts as present paths', () => {
  const text = `StorePath: ${B}\nURL: nar/13dss.nar.zst\nCompression: zstd\nFileHash: sha256:13dss\nFileSize: 178\nNarHash: sha256:1svk\nNarSize: 496\nReferences: sj57xbdbnacl24mi5n8zzp21323ashy2-a\nSig: k:1\n`;
  assert.deepEqual(parseNarInfo(text), { storePath: B, url: 'nar/13dss.nar.zst', fileSize: 178, fileSha256: undefined, references: ['sj57xbdbnacl24mi5n8zzp21323ashy2-a'] });
  const hashed = parseNarInfo(text.replace('sha256:13dss', 'sha256:09qd0lcvnpyjjnlqxvi1s9cxcmdl01n6jsydj73lnjsdbrpjx477'));
  assert.equal(hashed?.fileSha256, 'e7902e6f5e4d4b4bc791cd6b696c00b455d659d221ee8ea995d25fbb19050d27');
  assert.equal(parseNarInfo('StorePath: x\n'), undefined);
  const stub = placeholderNarInfo({ path: B, narHash: 'sha256-RS8=', narSize: 496, references: [A], signatures: [] });
  assert.match(stub, /^StorePath: \/nix\/store\/z181.*-b$/m);
  assert.match(stub, /^References: sj57xbdbnacl24mi5n8zzp21323ashy2-a$/m);
  assert.ok(parseNarInfo(stub));
});

test("a narinfo's FileHash read as hex: Nix's base32, which reads from the end, low bits first", () => {
  // Pairs from `nix hash to-base32 --type sha256 <hex>` (Nix 2.8).
  assert.equal(sha256Hex('sha256:09qd0lcvnpyjjnlqxvi1s9cxcmdl01n6jsydj73lnjsdbrpjx477'), 'e7902e6f5e4d4b4bc791cd6b696c00b455d659d221ee8ea995d25fbb19050d27');
  assert.equal(sha256Hex(`sha256:${'0'.repeat(52)}`), '0'.repeat(64));
  assert.equal(sha256Hex(`sha256:${'0'.repeat(51)}1`), `01${'0'.repeat(62)}`);
  assert.equal(sha256Hex(`sha256:1${'0'.repeat(51)}`), `${'0'.repeat(62)}80`);
  for (const bad of [undefined, '', 'sha256:13dss', `sha512:${'0'.repeat(52)}`, `sha256:${'e'.repeat(52)}`, `sha256:${'0'.repeat(53)}`, `sha256:2${'0'.repeat(51)}`]) {
    assert.equal(sha256Hex(bad), undefined, String(bad));
  }
});

test('installables: bare names are configurations, everything else goes to Nix as is', () => {
  for (const s of ['.#x', '.', './sub', '/abs/flake#y', 'github:owner/repo#z', 'path:/x', '/nix/store/abc-d']) assert.equal(isExplicitInstallable(s), true, s);
  for (const s of ['demo', 'web-1', 'host_a']) assert.equal(isExplicitInstallable(s), false, s);
  assert.equal(attrName('with.dot'), '"with.dot"');
  assert.equal(toplevelInstallable('/f', 'demo'), '/f#nixosConfigurations.demo.config.system.build.toplevel');
});

test('CLI cache settings: flags win over THEBACKND_* variables', () => {
  const env = { THEBACKND_CACHE_ENDPOINT: 'https://env.example', THEBACKND_CACHE_BUCKET: 'envb', THEBACKND_CACHE_REGION: 'ams3', THEBACKND_SIGNING_KEY_FILE: '/k.sec' };
  const fromEnv = cacheFromFlags({}, env);
  assert.deepEqual([fromEnv.endpoint, fromEnv.bucket, fromEnv.region, fromEnv.signingKeyFile, fromEnv.forcePathStyle], ['https://env.example', 'envb', 'ams3', '/k.sec', true]);
  const fromFlags = cacheFromFlags({ endpoint: 'http://127.0.0.1:9', bucket: 'b', 'virtual-host-style': true, 'checksum-mode': 'WHEN_SUPPORTED' }, env);
  assert.deepEqual(
    [fromFlags.endpoint, fromFlags.bucket, fromFlags.region, fromFlags.forcePathStyle, fromFlags.checksumMode],
    ['http://127.0.0.1:9', 'b', 'ams3', false, 'WHEN_SUPPORTED'],
  );
  assert.throws(() => cacheFromFlags({ 'checksum-mode': 'ALWAYS' }, {}), UserError);
});

test('substituter URL: path style, virtual-host style, or the public URL', () => {
  const c = { ...DEFAULTS.cache, endpoint: 'https://ams3.digitaloceanspaces.com/', bucket: 'nix' };
  assert.equal(substituterUrl(c), 'https://ams3.digitaloceanspaces.com/nix');
  assert.equal(substituterUrl({ ...c, forcePathStyle: false }), 'https://nix.ams3.digitaloceanspaces.com');
  assert.equal(substituterUrl({ ...c, publicUrl: 'https://cache.example.org/' }), 'https://cache.example.org');
});

test('loading src/nix does not load the AWS SDK (activation stays cheap)', async () => {
  const { execFileSync } = await import('node:child_process');
  const script = `require(${JSON.stringify(require.resolve('../../../src/nix'))});
    const loaded = Object.keys(require.cache).filter((k) => k.includes('@aws-sdk'));
    process.stdout.write(String(loaded.length));`;
  assert.equal(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }), '0');
  const withSdk = `require(${JSON.stringify(require.resolve('../../../src/nix/s3'))}).Bucket.open({ cache: { endpoint: 'http://127.0.0.1:9', bucket: 'b', region: 'us-east-1', checksumMode: 'WHEN_REQUIRED', forcePathStyle: true }, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } })
    .then((b) => { b.destroy(); process.stdout.write(String(Object.keys(require.cache).filter((k) => k.includes('@aws-sdk')).length > 0)); });`;
  assert.equal(execFileSync(process.execPath, ['-e', withSdk], { encoding: 'utf8' }), 'true', 'the check can see the SDK once a bucket is opened');
});
