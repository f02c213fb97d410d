// What workers cost: the providers' billing rules, the estimate before and the bill after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { billed, costReport, estimate, money, sizeRows, sizeSummary } from '../../../src/workers/cost';
import type { Size } from '../../../src/providers/types';

const HOUR = 3_600_000;
const cx41: Size = {
  slug: 'cx41',
  cpus: 4,
  memoryGiB: 16,
  diskGiB: 160,
  pricePerHour: 0.033,
  currency: 'EUR',
  regions: ['fsn1', 'ash'],
  pricesByRegion: { fsn1: 0.033, ash: 0.0396 },
};
const cx22: Size = { slug: 'cx22', cpus: 2, memoryGiB: 4, diskGiB: 40, pricePerHour: 0.006, currency: 'EUR', regions: ['fsn1'] };
const small: Size = { slug: 's-1vcpu-512mb-10gb', cpus: 1, memoryGiB: 0.5, diskGiB: 10, pricePerHour: 0.00595, currency: 'USD', regions: [] };

test('Hetzner bills each started hour; DigitalOcean per second with a 60 s and $0.01 minimum', () => {
  assert.equal(billed('hetzner', 0.033, 0), 0.033);
  assert.equal(billed('hetzner', 0.033, 5 * 60_000), 0.033);
  assert.equal(billed('hetzner', 0.033, HOUR), 0.033);
  assert.equal(billed('hetzner', 0.033, HOUR + 1000), 0.066);
  assert.equal(billed('digitalocean', 0.125, 10_000), 0.01, 'a few seconds still cost the $0.01 minimum');
  assert.equal(billed('digitalocean', 1.2, 30_000), 0.02, '60 s minimum: 1.2/h × 60 s');
  assert.equal(billed('digitalocean', 1.2, 30 * 60_000).toFixed(4), '0.6000');
});

test("the estimate is price/hour × N × hours, rounded as the provider bills, in the region's price", () => {
  const e = estimate('hetzner', cx41, 'ash', 3, 1.5);
  assert.equal(e.perHour.toFixed(4), '0.1188');
  assert.equal(e.total.toFixed(4), '0.2376', 'two started hours each');
  assert.equal(e.text, '3 × cx41 at €0.0396/h = €0.1188/h; about €0.2376 for 1.5 h (Hetzner bills each started hour).');
  const d = estimate('digitalocean', small, 'ams3', 2, 0.5);
  assert.equal(d.text, '2 × s-1vcpu-512mb-10gb at $0.0060/h = $0.0119/h; about $0.0200 for 30 min (DigitalOcean bills per second, at least 60 s or $0.01).');
});

test('the server-type table: cheapest first, only types offered in the region, cores, RAM, disk, price per hour', () => {
  assert.deepEqual(sizeRows([cx41, cx22, small], 'fsn1'), [
    ['s-1vcpu-512mb-10gb', '1', '0.5', '10', '$0.0060'],
    ['cx22', '2', '4', '40', '€0.0060'],
    ['cx41', '4', '16', '160', '€0.0330'],
  ]);
  assert.deepEqual(
    sizeRows([cx41, cx22], 'ash').map((r) => r[0]),
    ['cx41'],
  );
  assert.equal(sizeSummary(cx41, 'ash'), '4 cores · 16 GiB RAM · 160 GiB disk · €0.0396/h');
  assert.equal(money(1.5, 'EUR'), '€1.50');
});

test('the bill after: per worker from created-at to destroy; kept workers add their time to the deadline as an upper bound', () => {
  const done = costReport('hetzner', 0.033, 'EUR', [
    { name: 'thebacknd-1', ms: 20 * 60_000, kept: false },
    { name: 'thebacknd-2', ms: 61 * 60_000, kept: false },
  ]);
  assert.equal(done.total.toFixed(4), '0.0990');
  assert.equal(done.text, '2 workers for up to 1 h 01 min: €0.0990 (Hetzner bills each started hour).');
  const kept = costReport('hetzner', 0.033, 'EUR', [{ name: 'thebacknd-1', ms: 10 * 60_000, kept: true, msToDeadline: 110 * 60_000 }]);
  assert.equal(kept.total.toFixed(4), '0.0330');
  assert.equal(kept.keptUpperBound?.toFixed(4), '0.0660');
  assert.match(kept.text, /Kept workers run on: at most €0\.0660 in all if they live until their deadline\.$/);
  assert.equal(costReport('digitalocean', 0.1, 'USD', []).text, 'No worker was created: nothing to pay.');
});
