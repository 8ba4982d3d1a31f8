// Invariants of our scheduler on random CIBs with groups, clones, promotable clones and
// failures (test/helpers/random-cib.ts), checked on the placement and the actions:
// a -INFINITY location is never violated, a primitive outside a clone gets at most one node,
// a clone never exceeds clone-max or one instance per node, nothing starts on a node that
// cannot run resources, and at most one instance of a promotable clone is promoted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { INFINITY } from '../../src/scheduler/score.js';
import { parseCib } from '../../src/scheduler/cib/parse.js';
import { schedule } from '../../src/scheduler/simulate.js';
import { parseStatus } from '../../src/scheduler/status/parse-status.js';
import { cibFromSpec, cibSpecArb } from '../helpers/random-cib.js';
import type { Rsc } from '../../src/scheduler/working-set.js';

const NOW = 1_600_000_000;

function topId(r: Rsc): string {
  return r.cloneOf?.id ?? r.group?.cloneOf?.id ?? r.group?.id ?? r.id;
}

test('property: placement and actions respect bans, clone limits and node availability', () => {
  fc.assert(fc.property(cibSpecArb(['groups', 'clones', 'promotable', 'failures']), (spec) => {
    const xml = cibFromSpec(spec, NOW);
    const { root, config } = parseCib(xml);
    const { ws } = schedule(config, parseStatus(root), NOW);
    const bans = new Set(config.locations.filter((l) => l.score !== undefined && l.score <= -INFINITY).map((l) => `${l.rsc}@${l.node}`));
    const perClone = new Map<string, string[]>();
    for (const r of ws.rscs) {
      const node = r.allocatedTo;
      if (!node) continue;
      assert.ok(!bans.has(`${topId(r)}@${node.uname}`), `${r.id} placed on ${node.uname}, banned for ${topId(r)}`);
      assert.ok(node.online && !node.standby && !node.unclean, `${r.id} placed on ${node.uname}, which cannot run resources`);
      if (r.cloneOf) perClone.set(r.cloneOf.id, [...(perClone.get(r.cloneOf.id) ?? []), node.uname]);
    }
    for (const [id, nodes] of perClone) {
      const max = spec.tops.find((_, i) => `c${i}` === id)?.cloneMax;
      assert.equal(new Set(nodes).size, nodes.length, `${id}: two instances on one node (${nodes.join(' ')})`);
      if (max !== undefined) assert.ok(nodes.length <= max, `${id}: ${nodes.length} instances placed, clone-max ${max}`);
      const promoted = ws.rscs.filter((r) => r.cloneOf?.id === id && r.nextRole === 'Promoted');
      assert.ok(promoted.length <= 1, `${id}: ${promoted.length} instances promoted, promoted-max 1`);
    }
    for (const a of ws.actions) {
      if (a.pseudo || a.optional || !a.runnable || !a.node || !a.rsc) continue;
      if (a.task === 'start' || a.task === 'promote') {
        assert.ok(a.node.online && !a.node.standby, `${a.rsc.id} ${a.task} on ${a.node.uname}, which cannot run resources`);
        assert.ok(!bans.has(`${topId(a.rsc)}@${a.node.uname}`), `${a.rsc.id} ${a.task} on banned ${a.node.uname}`);
      }
    }
    // A primitive outside a clone is started on one node at most.
    for (const r of ws.rscs) {
      if (r.cloneOf) continue;
      const starts = r.actions.filter((a) => a.task === 'start' && a.node && a.runnable && !a.optional).map((a) => a.node!.uname);
      assert.ok(new Set(starts).size <= 1, `${r.id} started on ${starts.join(' and ')}`);
    }
  }), { numRuns: 300, seed: 20261208 });
});
