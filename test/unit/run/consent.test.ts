// Other extensions calling thebacknd.runToplevel / buildOnWorkers with arguments: the user is asked, except in the
// extension's own tests (ExtensionMode.Test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scriptedConsentQuestion } from '../../../src/run/consent';

test('a scripted run asks first in production and development, never in tests', () => {
  for (const mode of ['production', 'development'] as const) {
    assert.match(
      scriptedConsentQuestion(mode, 'bare image on Hetzner fsn1 cx22') ?? '',
      /^Another extension asks Thebacknd to create paid cloud machines: bare image on Hetzner fsn1 cx22\..*Allow it\?$/,
    );
  }
  assert.equal(scriptedConsentQuestion('test', 'x'), undefined);
});
