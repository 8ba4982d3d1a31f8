// Properties of the quorum rules over random clusters and membership histories.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Votequorum, calculateQuorum, isQuorateSet, quorumRules, type QuorumCarry, type QuorumConfig } from '../../src/cluster/votequorum.js';
import type { AutoTieBreakerNode } from '../../src/cluster/types.js';

/** Random configurations that corosync would start with. */
const configArb: fc.Arbitrary<QuorumConfig> = fc
  .record({
    votes: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 7 }),
    twoNode: fc.boolean(),
    waitForAll: fc.boolean(),
    lastManStanding: fc.boolean(),
    autoTieBreaker: fc.boolean(),
    atbKind: fc.constantFrom('lowest', 'highest', 'list'),
    atbList: fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 3 }),
    expectedVotes: fc.option(fc.integer({ min: 1, max: 15 })),
    arbiterVotes: fc.option(fc.integer({ min: 1, max: 3 })),
  })
  .map((r) => {
    const atbNode: AutoTieBreakerNode = r.atbKind === 'list' ? [...new Set(r.atbList)] : (r.atbKind as 'lowest' | 'highest');
    return {
      nodes: r.votes.map((v, i) => ({ nodeId: i + 1, votes: v })),
      options: {
        expectedVotes: r.expectedVotes,
        twoNode: r.twoNode && r.votes.length === 2,
        waitForAll: r.waitForAll,
        lastManStanding: r.lastManStanding,
        lastManStandingWindowMs: 1000,
        autoTieBreaker: r.autoTieBreaker,
        autoTieBreakerNode: atbNode,
      },
      arbiter: r.arbiterVotes === null ? null : { votes: r.arbiterVotes },
    };
  })
  .filter((c) => quorumRules(c).errors.length === 0);

/** A non-empty subset of the cluster's node ids, from a bit mask. */
const subsetOf = (config: QuorumConfig, mask: number): number[] => config.nodes.map((n) => n.nodeId).filter((_, i) => (mask >> i) & 1);

test('a tracker fed only memberships reports what calculateQuorum computes from its carried state', () => {
  fc.assert(
    fc.property(
      configArb,
      fc.array(fc.record({ mask: fc.integer({ min: 0, max: 127 }), arbiter: fc.boolean() }), { minLength: 1, maxLength: 12 }),
      (config, history) => {
        const self = 1;
        const t = new Votequorum(config, self);
        for (const [step, h] of history.entries()) {
          const members = [...new Set([self, ...subsetOf(config, h.mask)])];
          const arbiterPresent = h.arbiter && config.arbiter !== null;
          const predicted = calculateQuorum({ config, members, arbiterPresent, carry: t.carry() });
          const got = t.onMembership(members, arbiterPresent, step);
          assert.deepEqual(
            { ...got, flags: got.flags.filter((f) => f !== 'LastManStanding') },
            { ...predicted, flags: predicted.flags.filter((f) => f !== 'LastManStanding') },
            `step ${step}: [${members}]`,
          );
        }
      },
    ),
    { numRuns: 400 },
  );
});

test('without two_node, two disjoint sets split from one membership are never both quorate', () => {
  fc.assert(
    fc.property(
      configArb.filter((c) => !quorumRules(c).rules.twoNode),
      fc.integer({ min: 0, max: 3 ** 7 - 1 }),
      fc.boolean(),
      fc.integer({ min: 0, max: 5 }),
      (config, split, arbiterOnA, extraExpected) => {
        // Each node goes to side A, side B or neither (base-3 digit).
        const a: number[] = [];
        const b: number[] = [];
        config.nodes.forEach((n, i) => {
          const side = Math.floor(split / 3 ** i) % 3;
          if (side === 1) a.push(n.nodeId);
          if (side === 2) b.push(n.nodeId);
        });
        fc.pre(a.length > 0 && b.length > 0);
        const all = config.nodes.map((n) => n.nodeId);
        const configured = config.nodes.reduce((s, n) => s + n.votes, 0) + (config.arbiter?.votes ?? 0);
        const carry: QuorumCarry = {
          // Expected votes at least what is configured: nothing lowered them (last_man_standing would).
          expectedVotes: Math.max(configured, config.options.expectedVotes ?? 0) + extraExpected,
          quorum: 0,
          waitForAllPending: false,
          previousMembers: all,
          tieBreakerLowest: Math.min(...all),
          tieBreakerHighest: Math.max(...all),
        };
        const quorateA = isQuorateSet(config, a, arbiterOnA, carry);
        const quorateB = isQuorateSet(config, b, !arbiterOnA, carry);
        assert.ok(!(quorateA && quorateB), `both [${a}] and [${b}] are quorate`);
      },
    ),
    { numRuns: 2000 },
  );
});

test('isQuorateSet agrees with calculateQuorum when wait_for_all is satisfied', () => {
  fc.assert(
    fc.property(configArb, fc.integer({ min: 1, max: 127 }), fc.integer({ min: 0, max: 127 }), fc.boolean(), (config, mask, prevMask, arbiter) => {
      const members = subsetOf(config, mask);
      fc.pre(members.length > 0);
      const all = config.nodes.map((n) => n.nodeId);
      const carry: QuorumCarry = {
        expectedVotes: config.nodes.reduce((s, n) => s + n.votes, 0),
        quorum: 0,
        waitForAllPending: false,
        previousMembers: subsetOf(config, prevMask),
        tieBreakerLowest: Math.min(...all),
        tieBreakerHighest: Math.max(...all),
      };
      const arbiterPresent = arbiter && config.arbiter !== null;
      // calculateQuorum re-derives the tie-breaker ids from members when quorate by votes; the verdict is the same.
      assert.equal(isQuorateSet(config, members, arbiterPresent, carry), calculateQuorum({ config, members, arbiterPresent, carry }).quorate);
    }),
    { numRuns: 1000 },
  );
});
