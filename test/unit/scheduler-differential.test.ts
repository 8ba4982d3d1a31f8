// Random CIBs (test/helpers/random-cib.ts) through our scheduler and Debian's crm_simulate
// 2.1.5: the whole -S output must match (whitespace-insensitive, as upstream compares).
// A fixed sample: primitives with locations, colocations, orders, stickiness, standby and
// offline nodes, and the same with failed monitors, failed starts, fail counts and
// migration-threshold. `node dist/bench/scheduler-differential.js` runs more seeds and the
// mixes with groups and clones, and reports the agreement rate of each.
import { test } from 'node:test';
import fc from 'fast-check';
import { crmSimulateSkip, SIMULATE_NOW, withCrmSimulate } from '../helpers/crm-simulate.js';
import { cibFromSpec, cibSpecArb, type Feature } from '../helpers/random-cib.js';

for (const features of [[], ['failures']] as Feature[][]) {
  const mix = features.length ? features.join('+') : 'primitives';
  test(`generated CIBs (${mix}): our -S output equals crm_simulate 2.1.5`, { skip: crmSimulateSkip }, () => {
    withCrmSimulate((expectSame) => {
      let n = 0;
      fc.assert(
        fc.property(cibSpecArb(features), (spec) => {
          const xml = cibFromSpec(spec, SIMULATE_NOW);
          expectSame(`${mix}-${n++}`, xml, `CIB:\n${xml}`);
        }),
        { numRuns: 40, seed: 1 },
      );
    });
  });
}
