// votequorum's rules, case by case. Expected values come from corosync: the formula and
// examples in votequorum.5 and exec/votequorum.c, and the assertions of corosync's removed CTS
// (VoteQuorumGoDown/GoUp: quorum == (N+2)/2, quorate iff alive >= quorum;
// VoteQuorumWaitForAll: not quorate until all N are up).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  QuorumConfigError,
  Votequorum,
  calculateQuorum,
  initialCarry,
  isQuorateSet,
  majorityOf,
  parseVotequorumState,
  quorumRules,
  type QuorumConfig,
} from '../../src/cluster/votequorum.js';
import type { QuorumOptions } from '../../src/cluster/types.js';

const options = (o: Partial<QuorumOptions> = {}): QuorumOptions => ({
  expectedVotes: null,
  twoNode: false,
  waitForAll: o.twoNode ?? false,
  lastManStanding: false,
  lastManStandingWindowMs: 10000,
  autoTieBreaker: false,
  autoTieBreakerNode: 'lowest',
  ...o,
});

const cluster = (votes: number[], o: Partial<QuorumOptions> = {}, arbiter: QuorumConfig['arbiter'] = null): QuorumConfig => ({
  nodes: votes.map((v, i) => ({ nodeId: i + 1, votes: v })),
  options: options(o),
  arbiter,
});

const ids = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** One tracker per node, each seeing its own partition; announcements exchanged as votequorum does. */
class Nodes {
  readonly trackers = new Map<number, Votequorum>();
  now = 0;
  constructor(readonly config: QuorumConfig) {}

  start(id: number): void {
    const t = new Votequorum(this.config, id);
    t.onMembership([id], false, this.now);
    this.trackers.set(id, t);
  }

  stop(id: number): void {
    this.trackers.delete(id);
  }

  /** Agree a membership among `members` (all must be started). */
  form(members: number[], arbiter = false): void {
    const infos = members.map((id) => this.trackers.get(id)!.nodeInfo());
    for (const id of members) this.trackers.get(id)!.onMembership(members, arbiter, this.now, infos.filter((i) => i.nodeId !== id));
  }

  tick(ms: number): void {
    this.now += ms;
    for (const t of this.trackers.values()) t.onTick(this.now);
  }

  quorate(id: number): boolean {
    return this.trackers.get(id)!.status().quorate;
  }
}

test('the threshold is floor(E/2)+1 (votequorum.5: 2→2, 3→2, 4→3, 5→3, 8→5)', () => {
  assert.deepEqual([2, 3, 4, 5, 8].map(majorityOf), [2, 2, 3, 3, 5]);
});

test('VoteQuorumGoDown / GoUp: quorum is (N+2)/2 and a node is quorate iff alive >= quorum', () => {
  for (let n = 2; n <= 7; n++) {
    const c = new Nodes(cluster(Array(n).fill(1)));
    for (const id of ids(n)) c.start(id);
    c.form(ids(n));
    const quorum = Math.floor((n + 2) / 2);
    for (let alive = n; alive >= 1; alive--) {
      const members = ids(alive);
      for (const id of ids(n)) if (id > alive) c.stop(id);
      c.form(members);
      const s = c.trackers.get(1)!.status();
      assert.equal(s.quorum, quorum, `n=${n} alive=${alive}`);
      assert.equal(s.quorate, alive >= quorum, `n=${n} alive=${alive}`);
      assert.equal(s.totalVotes, alive);
      assert.equal(s.expectedVotes, n, 'expected votes never fall by themselves');
    }
    for (let alive = 2; alive <= n; alive++) {
      c.start(alive);
      c.form(ids(alive));
      assert.equal(c.quorate(1), alive >= quorum, `going up n=${n} alive=${alive}`);
    }
  }
});

test('VoteQuorumWaitForAll: not quorate until all N have been seen at once', () => {
  for (let n = 3; n <= 5; n++) {
    const c = new Nodes(cluster(Array(n).fill(1), { waitForAll: true }));
    for (let up = 1; up <= n; up++) {
      c.start(up);
      c.form(ids(up));
      assert.equal(c.quorate(1), up === n, `n=${n} up=${up}`);
      assert.ok(c.trackers.get(1)!.status().flags.includes('WaitForAll'));
    }
    // Once satisfied, losing a node keeps quorum by votes.
    c.stop(n);
    c.form(ids(n - 1));
    assert.equal(c.quorate(1), n - 1 >= majorityOf(n));
  }
});

test('wait_for_all: a fresh node joining a quorate partition is released by it', () => {
  const c = new Nodes(cluster([1, 1, 1, 1, 1], { waitForAll: true }));
  for (const id of ids(5)) c.start(id);
  c.form(ids(5));
  c.stop(5);
  c.stop(4);
  c.form([1, 2, 3]);
  assert.ok(c.quorate(1));
  c.start(4);
  c.form([1, 2, 3, 4]);
  assert.ok(c.quorate(4), 'released by quorate peers although only 4 of 5 votes were seen');
  // Without peers' announcements (assumed not quorate) a fresh node keeps waiting.
  const lone = new Votequorum(cluster([1, 1, 1, 1, 1], { waitForAll: true }), 5);
  assert.equal(lone.onMembership([2, 3, 4, 5], false, 0).quorate, false);
});

test('two_node: quorum is 1 while at most two voters are present, so both halves of a split are quorate', () => {
  const config = cluster([1, 1], { twoNode: true });
  const c = new Nodes(config);
  c.start(1);
  // A lone first start waits for both nodes (two_node implies wait_for_all).
  let s = c.trackers.get(1)!.status();
  assert.deepEqual([s.quorate, s.quorum, s.flags], [false, 1, ['2Node', 'WaitForAll']]);
  c.start(2);
  c.form([1, 2]);
  s = c.trackers.get(1)!.status();
  assert.deepEqual([s.quorate, s.quorum, s.expectedVotes, s.totalVotes], [true, 1, 2, 2]);
  c.form([1]);
  c.form([2]);
  assert.ok(c.quorate(1) && c.quorate(2), 'split brain by design: fencing must decide');
  const carry = c.trackers.get(1)!.carry();
  assert.ok(isQuorateSet(config, [1], false, carry) && isQuorateSet(config, [2], false, carry));
});

test('an arbiter vote decides a 2-node split: only the side that holds it is quorate', () => {
  const config = cluster([1, 1], {}, { votes: 1 });
  const carry = initialCarry(config);
  assert.equal(isQuorateSet(config, [1, 2], false, carry), true);
  assert.equal(isQuorateSet(config, [1], true, carry), true);
  assert.equal(isQuorateSet(config, [2], false, carry), false);
  const t = new Votequorum(config, 1);
  const s = t.onMembership([1, 2], true, 0);
  assert.deepEqual([s.quorate, s.expectedVotes, s.totalVotes, s.quorum, s.flags], [true, 3, 3, 2, ['Quorate', 'Qdevice']]);
  assert.equal(t.onMembership([1], false, 1).quorate, false);
  assert.equal(t.onArbiter(true).quorate, true, 'the device poll brings the vote back');
});

test('a configured device raises expected votes even before it votes (as corosync counts qdevice->votes)', () => {
  const t = new Votequorum(cluster([1, 1, 1], {}, { votes: 2 }), 1);
  const s = t.onMembership([1, 2, 3], false, 0);
  assert.deepEqual([s.expectedVotes, s.quorum, s.totalVotes, s.quorate], [5, 3, 3, true]);
  assert.equal(t.onMembership([1], true, 1).quorate, true, '1 node + 2 device votes = 3 of 5');
});

test('auto_tie_breaker: in an exact half split the half holding the lowest / highest / first listed node keeps quorum', () => {
  const cases: [QuorumOptions['autoTieBreakerNode'], number[]][] = [
    ['lowest', [1, 2]],
    ['highest', [3, 4]],
    [[3, 1], [3, 4]],
  ];
  for (const [node, winner] of cases) {
    const config = cluster([1, 1, 1, 1], { autoTieBreaker: true, autoTieBreakerNode: node });
    const c = new Nodes(config);
    for (const id of ids(4)) c.start(id);
    c.form(ids(4));
    const loser = ids(4).filter((id) => !winner.includes(id));
    c.form(winner);
    c.form(loser);
    for (const id of winner) assert.ok(c.quorate(id), `${JSON.stringify(node)}: node ${id}`);
    for (const id of loser) assert.ok(!c.quorate(id), `${JSON.stringify(node)}: node ${id}`);
    assert.ok(c.trackers.get(1)!.status().flags.includes('AutoTieBreaker'));
  }
});

test('auto_tie_breaker list: a listed node only counts if no earlier listed node was in the previous membership', () => {
  const config = cluster([1, 1, 1, 1], { autoTieBreaker: true, autoTieBreakerNode: [3, 1] });
  const c = new Nodes(config);
  for (const id of ids(4)) c.start(id);
  c.form(ids(4));
  c.form([1, 2]); // node 3 was present before and may be alive on the other side
  assert.equal(c.quorate(1), false);
  const t = new Votequorum(config, 1);
  t.onMembership([1, 2, 4], false, 0);
  assert.equal(t.onMembership([1, 2], false, 1).quorate, true, 'node 3 was not in the previous membership: 1 counts');
});

test('auto_tie_breaker does not apply when the other side may hold a majority', () => {
  // 5 nodes (wait_for_all keeps ATB on): [1 2] has 2 = 5/2 votes, but three nodes left at once.
  const config = cluster([1, 1, 1, 1, 1], { autoTieBreaker: true, waitForAll: true });
  const c = new Nodes(config);
  for (const id of ids(5)) c.start(id);
  c.form(ids(5));
  c.form([1, 2]);
  assert.equal(c.quorate(1), false);
  c.form([1, 2, 3]);
  c.form([1, 2]); // now only node 3 left: it cannot be a majority
  assert.equal(c.quorate(1), true);
});

test('last_man_standing lowers expected votes after the window, in quorum, one step at a time', () => {
  const config = cluster([1, 1, 1, 1, 1], { lastManStanding: true, lastManStandingWindowMs: 10000 });
  const c = new Nodes(config);
  for (const id of ids(5)) c.start(id);
  c.form(ids(5));
  const t = c.trackers.get(1)!;
  assert.equal(t.nextDeadline(), null);
  c.form([1, 2, 3]);
  assert.equal(t.nextDeadline(), c.now + 10000);
  c.tick(9999);
  assert.deepEqual([t.status().expectedVotes, t.status().quorum], [5, 3]);
  c.tick(1);
  assert.deepEqual([t.status().expectedVotes, t.status().quorum, t.status().highestExpected], [3, 2, 3]);
  assert.equal(t.nextDeadline(), null);
  c.form([1, 2]);
  assert.ok(c.quorate(1), '2 of the lowered 3');
  c.tick(10000);
  assert.deepEqual([t.status().expectedVotes, t.status().quorum], [2, 2]);
  c.form([1]);
  assert.equal(c.quorate(1), false, 'from 2 to 1 needs auto_tie_breaker');
  assert.ok(t.status().flags.includes('LastManStanding'));
});

test('last_man_standing with auto_tie_breaker goes down to the last node', () => {
  const c = new Nodes(cluster([1, 1, 1, 1], { lastManStanding: true, lastManStandingWindowMs: 1000, autoTieBreaker: true }));
  for (const id of ids(4)) c.start(id);
  c.form(ids(4));
  for (const members of [[1, 2, 3], [1, 2], [1]]) {
    c.form(members);
    assert.ok(c.quorate(1), `[${members}] before the window`);
    c.tick(1000);
    assert.equal(c.trackers.get(1)!.status().expectedVotes, members.length);
  }
});

test('last_man_standing: the window does nothing if quorum was lost meanwhile; a member with 2 votes disables it', () => {
  const c = new Nodes(cluster([1, 1, 1, 1, 1], { lastManStanding: true, lastManStandingWindowMs: 1000 }));
  for (const id of ids(5)) c.start(id);
  c.form(ids(5));
  c.form([1, 2, 3]);
  c.tick(500);
  c.form([1, 2]);
  c.tick(500);
  assert.deepEqual([c.quorate(1), c.trackers.get(1)!.status().expectedVotes], [false, 5]);

  const heavy = new Votequorum(cluster([1, 2, 1], { lastManStanding: true }), 1);
  heavy.onMembership([1, 3], false, 0);
  assert.ok(heavy.status().flags.includes('LastManStanding'));
  heavy.onMembership([1, 2, 3], false, 1);
  assert.ok(!heavy.status().flags.includes('LastManStanding'));
  assert.equal(heavy.nextDeadline(), null);
});

test('quorum never drops by itself, even when the member that raised it leaves', () => {
  // Node 2 announces itself quorate with 5 expected votes: node 1 records that, the
  // threshold becomes 3, and it stays 3 when node 2 leaves (corosync: max(quorum, new)).
  const t = new Votequorum(cluster([1, 1, 1]), 1);
  t.onMembership([1, 2, 3], false, 0);
  t.onMembership([1, 2, 3], false, 1, [{ nodeId: 2, votes: 1, expectedVotes: 5, quorate: true, waitForAll: false }]);
  assert.deepEqual([t.status().highestExpected, t.status().quorum], [5, 3]);
  const s = t.onMembership([1, 3], false, 2);
  assert.deepEqual([s.highestExpected, s.quorum, s.quorate], [3, 3, false]);
});

test('an inquorate node adopts the expected votes of a quorate member it joins', () => {
  const t = new Votequorum(cluster([1, 1, 1, 1, 1]), 5);
  t.onMembership([5], false, 0);
  const s = t.onMembership([1, 2, 5], false, 1, [
    { nodeId: 1, votes: 1, expectedVotes: 3, quorate: true, waitForAll: false },
    { nodeId: 2, votes: 1, expectedVotes: 3, quorate: true, waitForAll: false },
  ]);
  assert.deepEqual([s.expectedVotes, s.quorum, s.quorate], [3, 2, true]);
});

test('expected_votes overrides the nodelist sum, and still rises when more votes appear', () => {
  const over = new Votequorum(cluster([1, 1, 1], { expectedVotes: 5 }), 1);
  assert.deepEqual(over.onMembership([1, 2, 3], false, 0), {
    quorate: true,
    quorum: 3,
    expectedVotes: 5,
    highestExpected: 5,
    totalVotes: 3,
    flags: ['Quorate'],
  });
  assert.equal(over.onMembership([1, 2], false, 1).quorate, false);
  const under = new Votequorum(cluster([1, 1, 1], { expectedVotes: 2 }), 1);
  assert.equal(under.onMembership([1], false, 0).quorate, false);
  assert.deepEqual([under.onMembership([1, 2, 3], false, 1).expectedVotes, under.status().quorum], [3, 2]);
});

test('weighted votes: a 3-vote node outvotes two 1-vote nodes', () => {
  const config = cluster([3, 1, 1]);
  const carry = initialCarry(config);
  assert.equal(isQuorateSet(config, [1], false, carry), true);
  assert.equal(isQuorateSet(config, [2, 3], false, carry), false);
});

test('flags come in quorumtool order', () => {
  const t = new Votequorum(cluster([1, 1, 1, 1], { waitForAll: true, lastManStanding: true, autoTieBreaker: true }), 1);
  assert.deepEqual(t.onMembership([1, 2, 3, 4], false, 0).flags, ['Quorate', 'WaitForAll', 'LastManStanding', 'AutoTieBreaker']);
});

test('corosync compatibility rules: refused combinations and switched-off features', () => {
  const refused = (c: QuorumConfig): string[] => quorumRules(c).errors;
  assert.match(refused(cluster([1, 1], { twoNode: true }, { votes: 1 })).join(), /two_node and a quorum device/);
  assert.match(refused(cluster([1, 1, 1], { lastManStanding: true }, { votes: 2 })).join(), /not compatible with last_man_standing/);
  assert.match(refused(cluster([1, 1, 1, 1], { autoTieBreaker: true }, { votes: 1 })).join(), /not compatible with auto_tie_breaker/);
  assert.match(refused(cluster([1, 1, 1], { autoTieBreaker: true, lastManStanding: true })).join(), /odd number of votes \(3\)/);
  assert.match(refused(cluster([1, 1], { expectedVotes: 3 }, { votes: 2 })).join(), /device.votes \(2\) is too high or quorum.expected_votes \(3\)/);
  assert.match(refused(cluster([1, 0.5])).join(), /node 2: quorum_votes 0.5/);
  assert.match(refused({ nodes: [], options: options(), arbiter: null }).join(), /nodelist or quorum.expected_votes/);
  assert.match(refused({ nodes: [{ nodeId: 1, votes: 1 }, { nodeId: 1, votes: 1 }], options: options(), arbiter: null }).join(), /nodeid 1 appears twice/);

  const atbOff = quorumRules(cluster([1, 1, 1], { autoTieBreaker: true }));
  assert.equal(atbOff.rules.autoTieBreaker, null);
  assert.match(atbOff.warnings.join(), /auto_tie_breaker has been disabled/);
  const twoOff = quorumRules(cluster([1, 1], { twoNode: true, autoTieBreaker: true }));
  assert.equal(twoOff.rules.twoNode, false);
  assert.match(twoOff.warnings.join(), /two_node has been disabled/);
  assert.throws(() => new Votequorum(cluster([1, 1], { twoNode: true }, { votes: 1 }), 1), QuorumConfigError);
});

test('bad memberships are refused with what was wrong', () => {
  const t = new Votequorum(cluster([1, 1, 1]), 1);
  assert.throws(() => t.onMembership([2, 3], false, 0), /does not contain this node \(1\)/);
  assert.throws(() => t.onMembership([1, 7], false, 0), /node 7 is not in the nodelist \(known: 1, 2, 3\)/);
  assert.throws(() => t.onMembership([1, 2, 2], false, 0), /lists node 2 twice/);
  assert.throws(() => new Votequorum(cluster([1, 1]), 3), /node 3 is not in the nodelist/);
});

test('state() is plain JSON and a tracker rebuilt from it carries on identically', () => {
  const config = cluster([1, 1, 1, 1, 1], { lastManStanding: true, lastManStandingWindowMs: 100, waitForAll: true });
  const a = new Votequorum(config, 1);
  a.onMembership(ids(5), false, 0);
  a.onMembership([1, 2, 3], false, 10);
  const b = new Votequorum(config, 1, JSON.parse(JSON.stringify(a.state())));
  for (const t of [a, b]) {
    t.onTick(200);
    t.onMembership([1, 2], false, 300);
  }
  assert.deepEqual(b.status(), a.status());
  assert.deepEqual(b.state(), a.state());
  assert.equal(a.status().quorate, true);
  assert.throws(() => new Votequorum(config, 2, a.state()), /belongs to node 1, not 2/);
});

test('a damaged state is refused, naming the field', () => {
  const good = new Votequorum(cluster([1, 1]), 1).state();
  assert.throws(() => parseVotequorumState({ ...good, quorum: -1 }), /quorum: expected an integer >= 0, got -1/);
  assert.throws(() => parseVotequorumState({ ...good, members: 'x' }), /members: expected a list of node ids/);
  assert.throws(() => parseVotequorumState({ ...good, version: 2 }), /version: expected 1/);
  assert.throws(() => parseVotequorumState(null), /expected an object/);
});

test('calculateQuorum: the single-membership arithmetic', () => {
  const config = cluster([1, 1, 1, 1], { waitForAll: true });
  const carry = initialCarry(config);
  assert.equal(calculateQuorum({ config, members: [1, 2, 3], arbiterPresent: false, carry }).quorate, false, 'wait_for_all');
  const seen = { ...carry, waitForAllPending: false };
  assert.deepEqual(calculateQuorum({ config, members: [1, 2, 3], arbiterPresent: false, carry: seen }), {
    quorate: true,
    quorum: 3,
    expectedVotes: 4,
    highestExpected: 4,
    totalVotes: 3,
    flags: ['Quorate', 'WaitForAll'],
  });
});
