// Hetzner's label rules and selector grammar, as the emulator implements them from the spec's description.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { LabelSelectorError, labelProblem, matchesSelector, parseLabelSelector } from '../../fixtures/emulator/labels';

const match = (sel: string, labels: Record<string, string>) => matchesSelector(parseLabelSelector(sel), labels);

test('selector terms', () => {
  const l = { thebacknd: '', env: 'prod', 'example.com/tier': 'web' };
  assert.equal(match('thebacknd', l), true);
  assert.equal(match('!thebacknd', l), false);
  assert.equal(match('missing', l), false);
  assert.equal(match('!missing', l), true);
  assert.equal(match('env=prod', l), true);
  assert.equal(match('env==prod', l), true);
  assert.equal(match('env=dev', l), false);
  assert.equal(match('env!=dev', l), true);
  assert.equal(match('missing!=x', l), true); // a missing key does not equal anything
  assert.equal(match('env in (dev, prod)', l), true);
  assert.equal(match('env notin (dev,prod)', l), false);
  assert.equal(match('missing in (a)', l), false);
  assert.equal(match('example.com/tier=web', l), true);
  assert.equal(match('thebacknd=', l), true); // empty value
  assert.equal(match('thebacknd,env=prod,env in (prod),!gone', l), true);
  assert.equal(match('thebacknd,env=dev', l), false);
});

test('malformed selectors are rejected', () => {
  for (const bad of ['env in (a', 'env in a,b)', '=x', 'a b', 'env===x', '-a']) {
    assert.throws(() => parseLabelSelector(bad), LabelSelectorError, bad);
  }
});

test('label keys and values follow the spec', () => {
  assert.equal(labelProblem({ thebacknd: '', 'thebacknd-run': 'thebacknd-5b9c1f7e-2e61-4c1a-9d38-0a6f8e2b4c71' }), undefined);
  assert.equal(labelProblem({ 'example.com/my': 'label' }), undefined);
  assert.match(labelProblem({ 'hetzner.cloud/x': 'y' }) ?? '', /reserved/);
  assert.match(labelProblem({ k: 'a value with spaces' }) ?? '', /value/);
  assert.match(labelProblem({ k: 'x'.repeat(64) }) ?? '', /value/);
  assert.match(labelProblem({ '-k': 'v' }) ?? '', /key/);
});
