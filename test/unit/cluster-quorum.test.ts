// The engine's quorum predicate (src/cluster/engine-quorum.ts) against votequorum's
// isQuorateSet, and the property the engine's safety rests on: under one agreed state,
// two disjoint sets of voters are never both quorate (two_node excepted, by design).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { QuorumRule, type AgreedQuorum } from '../../src/cluster/engine-quorum.js';
import { isQuorateSet, quorumConfigOf, quorumRules, quorumStep } from '../../src/cluster/votequorum.js';
import { clusterConfig } from '../../src/sim/cluster-sim.js';
import type { AutoTieBreakerNode, ClusterConfig, NodeId } from '../../src/cluster/types.js';

interface Drawn {
  config: ClusterConfig;
  /** Memberships the cluster went through, to build a realistic carried state. */
  history: { members: NodeId[]; arbiter: boolean }[];
  sets: NodeId[][];
}

const subsetOf = <T>(items: T[]) => fc.subarray(items);

const drawn: fc.Arbitrary<Drawn> = fc
  .record({
    count: fc.integer({ min: 1, max: 6 }),
    votes: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 6, maxLength: 6 }),
    weighted: fc.boolean(),
    arbiter: fc.boolean(),
    twoNode: fc.boolean(),
    waitForAll: fc.boolean(),
    atb: fc.oneof(fc.constant(null), fc.constant<AutoTieBreakerNode>('lowest'), fc.constant<AutoTieBreakerNode>('highest'), fc.constant<AutoTieBreakerNode>([3, 1])),
  })
  .chain((r) => {
    const nodes = Array.from({ length: r.count }, (_, i) => i + 1);
    const config = clusterConfig({
      nodes,
      votes: r.weighted ? Object.fromEntries(nodes.map((n) => [n, r.votes[n - 1]!])) : undefined,
      arbiter: r.arbiter,
      twoNode: r.twoNode && r.count === 2 && !r.arbiter,
      waitForAll: r.waitForAll,
      autoTieBreaker: r.arbiter ? null : r.atb,
    });
    const voters = r.arbiter ? [...nodes, 0] : nodes;
    return fc.record({
      config: fc.constant(config),
      history: fc.array(fc.record({ members: subsetOf(nodes), arbiter: fc.boolean() }), { maxLength: 4 }),
      sets: fc.array(subsetOf(voters), { minLength: 2, maxLength: 6 }),
    });
  })
  .filter((d) => quorumRules(quorumConfigOf(d.config)).errors.length === 0);

function agreedAfter(rule: QuorumRule, d: Drawn): AgreedQuorum {
  let agreed = rule.initial();
  for (const m of d.history) {
    const members = [...m.members].sort((a, b) => a - b);
    agreed = rule.membershipQuorum(members, m.arbiter && d.config.arbiter !== null, agreed).agreed;
  }
  return agreed;
}

test('the engine predicate equals votequorum.isQuorateSet without auto_tie_breaker, and is never laxer with it', () => {
  fc.assert(
    fc.property(drawn, (d) => {
      const rule = new QuorumRule(d.config);
      const agreed = agreedAfter(rule, d);
      const qc = quorumConfigOf(d.config);
      for (const set of d.sets) {
        const mine = rule.isQuorateVoters(set, agreed);
        const members = set.filter((id) => id !== 0);
        const theirs = isQuorateSet(qc, members, set.includes(0), agreed.carry);
        if (rule.rules.autoTieBreaker !== null) assert.ok(!mine || theirs, `tie-breaker: engine quorate but votequorum not for [${set}]`);
        else assert.equal(mine, theirs, `set [${set}] with carry ${JSON.stringify(agreed.carry)}`);
      }
    }),
    { numRuns: 3000 },
  );
});

test('auto_tie_breaker: of an exact split of four votes, only the half with the lowest node of the last quorate membership is quorate', () => {
  const rule = new QuorumRule(clusterConfig({ nodes: [1, 2, 3, 4], autoTieBreaker: 'lowest' }));
  const agreed = rule.membershipQuorum([1, 2, 3, 4], false, rule.initial()).agreed;
  assert.equal(rule.isQuorateVoters([1, 4], agreed), true);
  assert.equal(rule.isQuorateVoters([2, 3], agreed), false);
  const highest = new QuorumRule(clusterConfig({ nodes: [1, 2, 3, 4], autoTieBreaker: 'highest' }));
  const h = highest.membershipQuorum([1, 2, 3, 4], false, highest.initial()).agreed;
  assert.equal(highest.isQuorateVoters([1, 4], h), true);
  assert.equal(highest.isQuorateVoters([2, 3], h), false);
});

test('two disjoint sets of voters are never both quorate under one agreed state, unless two_node', () => {
  fc.assert(
    fc.property(drawn, (d) => {
      const rule = new QuorumRule(d.config);
      const agreed = agreedAfter(rule, d);
      for (const a of d.sets) {
        for (const b of d.sets) {
          if (a.some((x) => b.includes(x))) continue;
          if (!rule.isQuorateVoters(a, agreed) || !rule.isQuorateVoters(b, agreed)) continue;
          assert.ok(rule.rules.twoNode, `[${a}] and [${b}] are both quorate (carry ${JSON.stringify(agreed)})`);
        }
      }
    }),
    { numRuns: 3000 },
  );
});

test('expected votes count the arbiter from the start: {1,2} and {3, arbiter} are not both quorate', () => {
  const rule = new QuorumRule(clusterConfig({ nodes: [1, 2, 3], arbiter: true }));
  const agreed = rule.initial();
  assert.equal(agreed.carry.expectedVotes, 4);
  assert.equal(rule.isQuorateVoters([1, 2], agreed), false);
  assert.equal(rule.isQuorateVoters([3, 0], agreed), false);
  assert.equal(rule.isQuorateVoters([1, 2, 0], agreed), true);
});

test('last_man_standing: after lowering, only the members at that moment count, so a stale majority cannot win', () => {
  const config = clusterConfig({ nodes: [1, 2, 3, 4, 5], lastManStanding: true, lastManStandingWindowMs: 1000 });
  const rule = new QuorumRule(config);
  let agreed = rule.membershipQuorum([1, 2, 3, 4, 5], false, rule.initial()).agreed;
  agreed = rule.membershipQuorum([1, 2, 3], false, agreed).agreed;
  const lowered = rule.lowered([1, 2, 3], false, agreed);
  assert.equal(lowered.status.expectedVotes, 3);
  assert.equal(lowered.status.quorate, true);
  assert.equal(rule.isQuorateVoters([1, 2], lowered.agreed), true);
  assert.equal(rule.isQuorateVoters([3, 4, 5], lowered.agreed), false, 'nodes that left do not count until they rejoin');
  // Once 4 rejoins through a membership, it counts again and expected votes rise.
  const back = rule.membershipQuorum([1, 2, 3, 4], false, lowered.agreed);
  assert.equal(back.status.expectedVotes, 4);
  assert.equal(rule.isQuorateVoters([3, 4], back.agreed), false);
  assert.equal(rule.isQuorateVoters([2, 3, 4], back.agreed), true);
});

test('the reported status of a membership is votequorum\'s (quorumStep), e.g. wait_for_all holds a lone two_node start', () => {
  const config = clusterConfig({ nodes: [1, 2], twoNode: true });
  const rule = new QuorumRule(config);
  const lone = rule.membershipQuorum([1], false, rule.initial());
  const expected = quorumStep({ config: quorumConfigOf(config), members: [1], arbiterPresent: false, carry: rule.initial().carry });
  assert.deepEqual(lone.status, expected.status);
  assert.equal(lone.status.quorate, false);
  assert.deepEqual(lone.status.flags, ['2Node', 'WaitForAll']);
  const both = rule.membershipQuorum([1, 2], false, lone.agreed);
  assert.equal(both.status.quorate, true);
  const split = rule.membershipQuorum([2], false, both.agreed);
  assert.equal(split.status.quorate, true, 'two_node: a half stays quorate after having seen its peer');
});
