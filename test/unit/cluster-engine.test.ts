// Scenario tests of the cluster engine on a scripted network (fixed 1 ms delays, explicit
// cuts, crashes, restarts, pauses). Every step of every scenario is also checked for
// "all quorate nodes follow one leader" by the harness.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterHarness, clusterConfig } from '../../src/sim/cluster-sim.js';
import { engineTimings } from '../../src/cluster/engine.js';
import type { NodeId } from '../../src/cluster/types.js';
import { limits } from '../../src/cluster/engine-messages.js';
import { MESSAGE_BYTES_MAX } from '../../src/runtime/cluster/transport.js';

const TOKEN = 1000;

function formed(h: ClusterHarness, ids: NodeId[]): boolean {
  let ring: string | null = null;
  for (const id of ids) {
    const v = h.view(id);
    if (!v || !v.quorate || !v.membership) return false;
    if (v.membership.members.join(',') !== [...ids].sort((a, b) => a - b).join(',')) return false;
    const r = `${v.membership.ringId.rep}.${v.membership.ringId.seq}`;
    if (ring !== null && r !== ring) return false;
    ring = r;
  }
  return true;
}

function started(nodes: NodeId[], extra: Parameters<typeof clusterConfig>[0] extends infer S ? Partial<S> : never = {}, seed = 1): ClusterHarness {
  const h = new ClusterHarness(clusterConfig({ nodes, tokenMs: TOKEN, ...extra }), { seed });
  h.startAll();
  assert.ok(
    h.runUntil(() => formed(h, nodes) && (!extra.arbiter || h.view(nodes[0]!)!.membership!.arbiterPresent), 10 * TOKEN),
    `cluster of ${nodes} did not form: ${nodes.map((id) => JSON.stringify(h.view(id))).join('\n')}`,
  );
  return h;
}

test('timings follow totem: heartbeat max(join, token/10), election in [token, consensus), lease 0.8 token', () => {
  const t = engineTimings(clusterConfig({ nodes: [1, 2, 3], tokenMs: 1000 }));
  assert.deepEqual(t, { tokenMs: 1000, heartbeatMs: 100, electionMinMs: 1000, electionMaxMs: 1200, leaseMs: 800 });
  assert.equal(engineTimings(clusterConfig({ nodes: [1, 2], tokenMs: 300 })).heartbeatMs, 50);
});

test('election: three nodes agree on one leader and one membership of all three', () => {
  const h = started([1, 2, 3]);
  const leaders = [1, 2, 3].filter((id) => h.view(id)!.role === 'leader');
  assert.equal(leaders.length, 1);
  for (const id of [1, 2, 3]) assert.equal(h.view(id)!.leader, leaders[0]);
  // Every node told its application the same ring id and members, in one membership effect each.
  const last = [1, 2, 3].map((id) => h.effects(id, 'membership').at(-1)!);
  assert.ok(last.every((m) => JSON.stringify(m.membership) === JSON.stringify(last[0]!.membership)));
  assert.equal(h.view(1)!.quorum.totalVotes, 3);
  assert.ok(h.view(1)!.quorum.flags.includes('Quorate'));
  h.run(5 * TOKEN);
  assert.equal(h.quorateLeader(), leaders[0], 'a healthy leader stays leader');
  assert.deepEqual(h.violations, []);
});

test('leader crash: the survivors form a new membership within 1.5 tokens and stay quorate', () => {
  const h = started([1, 2, 3]);
  const leader = h.quorateLeader()!;
  const survivors = [1, 2, 3].filter((id) => id !== leader);
  h.run(TOKEN);
  const crashAt = h.now;
  h.crash(leader);
  assert.ok(h.runUntil(() => formed(h, survivors), 5 * TOKEN), 'survivors did not form a membership');
  const detection = h.now - crashAt;
  assert.ok(detection <= 1.5 * TOKEN, `detection took ${detection} ms`);
  // The followers last heard the leader up to one heartbeat before it died.
  assert.ok(detection >= TOKEN - engineTimings(h.config).heartbeatMs, `detection in ${detection} ms is faster than the token allows`);
  for (const id of survivors) {
    const m = h.effects(id, 'membership').at(-1)!;
    assert.deepEqual(m.left, [leader]);
    assert.notEqual(h.view(id)!.leader, leader);
  }
  assert.deepEqual(h.violations, []);
});

test('follower crash: the leader stays and removes the follower about one token later', () => {
  const h = started([1, 2, 3]);
  const leader = h.quorateLeader()!;
  const follower = [1, 2, 3].find((id) => id !== leader)!;
  const rest = [1, 2, 3].filter((id) => id !== follower);
  const crashAt = h.now;
  h.crash(follower);
  assert.ok(h.runUntil(() => formed(h, rest), 5 * TOKEN));
  const detection = h.now - crashAt;
  assert.ok(detection <= 1.3 * TOKEN, `detection took ${detection} ms`);
  assert.equal(h.quorateLeader(), leader);
  // It comes back and rejoins.
  h.restart(follower);
  assert.ok(h.runUntil(() => formed(h, [1, 2, 3]), 5 * TOKEN), 'the restarted follower did not rejoin');
  assert.deepEqual(h.violations, []);
});

test('partition 2|1: the minority loses quorum before the majority elects anew; never two quorate sides', () => {
  for (const isolateLeader of [false, true]) {
    const h = started([1, 2, 3]);
    const leader = h.quorateLeader()!;
    const lone = isolateLeader ? leader : [1, 2, 3].find((id) => id !== leader)!;
    const majority = [1, 2, 3].filter((id) => id !== lone);
    const cutAt = h.now;
    h.isolate(lone);
    assert.ok(h.runUntil(() => formed(h, majority), 5 * TOKEN), `majority did not form (isolated ${lone})`);
    assert.equal(h.view(lone)!.quorate, false);
    const lostAt = h.quorumLog.find((e) => e.node === lone && !e.quorate && e.at >= cutAt)!.at;
    const majorityAt = Math.min(...majority.map((id) => h.quorumLog.filter((e) => e.node === id && e.quorate && e.at > cutAt).at(-1)?.at ?? Infinity));
    if (isolateLeader) assert.ok(lostAt < majorityAt, `old leader lost quorum at ${lostAt}, new side quorate at ${majorityAt}`);
    h.run(3 * TOKEN);
    h.heal();
    assert.ok(h.runUntil(() => formed(h, [1, 2, 3]), 5 * TOKEN), 'did not merge after heal');
    assert.deepEqual(h.violations, []);
  }
});

test('bridge partition: 1 and 2 cannot talk, both reach 3; one leader keeps quorum, no flapping', () => {
  const h = started([1, 2, 3]);
  const leader = h.quorateLeader()!;
  const [a, b] = [1, 2, 3].filter((id) => id !== leader);
  // Cut the leader from one follower: the other follower bridges.
  h.cut(leader, a!);
  h.run(10 * TOKEN);
  assert.equal(h.quorateLeader(), leader, 'the leader should keep its quorum through the bridge');
  const v = h.view(leader)!;
  assert.deepEqual(v.membership!.members, [leader, b!].sort((x, y) => x - y));
  assert.equal(h.view(a!)!.quorate, false);
  const terms = new Set([1, 2, 3].map((id) => h.view(id)!.term));
  assert.equal(terms.size, 1, 'the cut-off follower did not disrupt the term (PreVote + stickiness)');
  h.heal();
  assert.ok(h.runUntil(() => formed(h, [1, 2, 3]), 5 * TOKEN));
  assert.deepEqual(h.violations, []);
});

test('one-way partition: a follower that hears the leader but cannot answer is dropped, and disrupts nothing', () => {
  const h = started([1, 2, 3]);
  const leader = h.quorateLeader()!;
  const [a, b] = [1, 2, 3].filter((id) => id !== leader);
  h.cut(a!, leader, true); // a hears the leader; the leader does not hear a
  assert.ok(h.runUntil(() => formed(h, [leader, b!]), 5 * TOKEN));
  h.run(10 * TOKEN);
  assert.equal(h.quorateLeader(), leader);
  assert.equal(h.view(a!)!.quorate, false, 'its lease lapsed: the leader never echoes its nonces');
  // The other way round: the leader cannot reach b, b can reach the leader.
  h.heal();
  assert.ok(h.runUntil(() => formed(h, [1, 2, 3]), 5 * TOKEN));
  h.cut(leader, b!, true);
  h.run(10 * TOKEN);
  assert.equal(h.quorateLeader(), leader, 'a follower that pre-votes cannot unseat a leader the others hear');
  assert.equal(h.view(b!)!.quorate, false);
  h.heal();
  assert.ok(h.runUntil(() => formed(h, [1, 2, 3]), 5 * TOKEN));
  assert.deepEqual(h.violations, []);
});

test('pause/resume: a paused leader never reports a stale quorum, even while it handles its old queued messages', () => {
  const h = started([1, 2, 3]);
  const leader = h.quorateLeader()!;
  const others = [1, 2, 3].filter((id) => id !== leader);
  h.pause(leader);
  // While paused, its view is evaluated at the current instant: the lease runs out on time.
  h.run(0.8 * TOKEN + 1);
  assert.equal(h.view(leader)!.quorate, false);
  assert.ok(h.runUntil(() => formed(h, others), 5 * TOKEN));
  h.run(2 * TOKEN);
  // SIGCONT: check the quorate flag after each queued message it handles.
  const node = h.nodes.get(leader)!;
  const queued = node.queued.length;
  assert.ok(queued > 0, 'the paused node should have queued messages');
  h.resume(leader);
  assert.equal(h.view(leader)!.quorate, false);
  assert.ok(h.runUntil(() => formed(h, [1, 2, 3]), 5 * TOKEN));
  assert.deepEqual(h.violations, []);
  // Same with a follower, whose lease comes from echoed nonces.
  const follower = others[0]!;
  h.pause(follower);
  h.run(0.8 * TOKEN + 1);
  assert.equal(h.view(follower)!.quorate, false);
  h.run(3 * TOKEN);
  h.resume(follower);
  assert.equal(h.view(follower)!.quorate, false);
  assert.ok(h.runUntil(() => formed(h, [1, 2, 3]), 5 * TOKEN));
  assert.deepEqual(h.violations, []);
});

test('group messages: one total order, exactly once, across a leader change with resends', () => {
  const h = started([1, 2, 3]);
  for (const id of [1, 2, 3]) h.call(id, { type: 'group-join', group: 'g' });
  assert.ok(h.runUntil(() => [1, 2, 3].every((id) => h.view(id)!.groups.find((g) => g.name === 'g')?.members.length === 3), 2 * TOKEN));
  const leader = h.quorateLeader()!;
  const survivors = [1, 2, 3].filter((id) => id !== leader);
  const sent: string[] = [];
  let n = 0;
  // Messages from the followers are in flight to the leader when it dies.
  for (let round = 0; round < 5; round++) {
    for (const id of survivors) {
      const payload = `m${++n}@${id}`;
      sent.push(payload);
      h.call(id, { type: 'group-send', group: 'g', payload });
    }
    h.run(0.3);
  }
  h.crash(leader);
  for (let round = 0; round < 5; round++) {
    for (const id of survivors) {
      const payload = `m${++n}@${id}`;
      sent.push(payload);
      h.call(id, { type: 'group-send', group: 'g', payload });
    }
    h.run(50);
  }
  const deliveredAll = (): boolean => survivors.every((id) => sent.every((p) => h.effects(id, 'deliver').some((d) => d.payload === p)));
  assert.ok(h.runUntil(deliveredAll, 10 * TOKEN), 'not all messages were delivered');
  const lists = survivors.map((id) => h.effects(id, 'deliver').map((d) => `${d.payload}/${d.seq}/${d.ringId.rep}.${d.ringId.seq}`));
  assert.deepEqual(lists[0], lists[1], 'survivors deliver the same sequence');
  for (const list of lists) assert.equal(new Set(list.map((x) => x.split('/')[0])).size, list.length, 'no duplicates');
  // Per sender, messages keep their sending order (FIFO), as with cpg.
  for (const id of survivors) {
    const mine = h.effects(survivors[0]!, 'deliver').filter((d) => d.from === id).map((d) => Number(d.payload.slice(1).split('@')[0]));
    assert.deepEqual(mine, [...mine].sort((a, b) => a - b));
  }
  // Within a ring, seqs have no gaps.
  const bySeq = h.effects(survivors[0]!, 'deliver');
  for (let i = 1; i < bySeq.length; i++) {
    if (bySeq[i]!.ringId.seq === bySeq[i - 1]!.ringId.seq) assert.equal(bySeq[i]!.seq, bySeq[i - 1]!.seq + 1);
  }
  assert.deepEqual(h.violations, []);
});

test('group changes: join, leave, nodedown and nodeup reasons as cpg gives them', () => {
  const h = started([1, 2, 3]);
  h.call(1, { type: 'group-join', group: 'g' });
  h.call(2, { type: 'group-join', group: 'g' });
  assert.ok(h.runUntil(() => h.view(1)!.groups.find((g) => g.name === 'g')?.members.length === 2, TOKEN));
  const c1 = h.effects(1, 'group-change');
  assert.deepEqual(c1.at(-1)!.members, [1, 2]);
  assert.ok(c1.some((c) => c.joined.some((j) => j.node === 1 && j.reason === 'join')));
  h.call(2, { type: 'group-leave', group: 'g' });
  assert.ok(h.runUntil(() => h.view(1)!.groups.find((g) => g.name === 'g')?.members.length === 1, TOKEN));
  assert.deepEqual(h.effects(1, 'group-change').at(-1)!.left, [{ node: 2, reason: 'leave' }]);
  h.call(3, { type: 'group-join', group: 'g' });
  assert.ok(h.runUntil(() => h.view(1)!.groups.find((g) => g.name === 'g')?.members.length === 2, TOKEN));
  // Node 3 is cut off: it leaves the group with NODEDOWN; when it comes back, NODEUP.
  h.isolate(3);
  assert.ok(h.runUntil(() => h.view(1)!.groups.find((g) => g.name === 'g')?.members.length === 1, 5 * TOKEN));
  assert.deepEqual(h.effects(1, 'group-change').at(-1)!.left, [{ node: 3, reason: 'nodedown' }]);
  h.heal();
  assert.ok(h.runUntil(() => h.view(1)!.groups.find((g) => g.name === 'g')?.members.length === 2, 5 * TOKEN));
  assert.deepEqual(h.effects(1, 'group-change').at(-1)!.joined, [{ node: 3, reason: 'nodeup' }]);
  // CPG's own checks: joining twice and sending to a group one has not joined are refused.
  const again = h.call(1, { type: 'group-join', group: 'g' });
  assert.ok(again.some((e) => e.type === 'log' && e.level === 'error' && /already joined/.test(e.msg)));
  const notJoined = h.call(2, { type: 'group-send', group: 'g', payload: 'x' });
  assert.ok(notJoined.some((e) => e.type === 'log' && e.level === 'error' && /not joined/.test(e.msg)));
  assert.deepEqual(h.violations, []);
});

test('a node that rejoins does not deliver what was sent while it was out', () => {
  const h = started([1, 2, 3]);
  for (const id of [1, 2, 3]) h.call(id, { type: 'group-join', group: 'g' });
  assert.ok(h.runUntil(() => h.view(3)!.groups.find((g) => g.name === 'g')?.members.length === 3, TOKEN));
  const leader = h.quorateLeader()!;
  const out = [1, 2, 3].find((id) => id !== leader)!;
  const sender = [1, 2, 3].find((id) => id !== out)!;
  h.isolate(out);
  assert.ok(h.runUntil(() => !h.view(leader)!.membership!.members.includes(out), 5 * TOKEN));
  for (let i = 0; i < 5; i++) h.call(sender, { type: 'group-send', group: 'g', payload: `while-out-${i}` });
  h.run(TOKEN);
  h.heal();
  assert.ok(h.runUntil(() => formed(h, [1, 2, 3]), 5 * TOKEN));
  h.call(sender, { type: 'group-send', group: 'g', payload: 'after' });
  assert.ok(h.runUntil(() => h.effects(out, 'deliver').some((d) => d.payload === 'after'), TOKEN));
  assert.equal(h.effects(out, 'deliver').filter((d) => d.payload.startsWith('while-out')).length, 0);
  assert.equal(h.effects(sender, 'deliver').filter((d) => d.payload.startsWith('while-out')).length, 5);
  assert.deepEqual(h.violations, []);
});

test('two_node without an arbiter: both halves stay quorate with their own membership, and heal into one', () => {
  const h = new ClusterHarness(clusterConfig({ nodes: [1, 2], twoNode: true, tokenMs: TOKEN }), { twoNodeSplit: true });
  h.startAll();
  assert.ok(h.runUntil(() => formed(h, [1, 2]), 10 * TOKEN));
  assert.ok(h.view(1)!.quorum.flags.includes('2Node'));
  h.cut(1, 2);
  assert.ok(h.runUntil(() => formed(h, [1]) && formed(h, [2]), 5 * TOKEN), 'each half should form its own quorate membership');
  assert.notEqual(h.view(1)!.term, h.view(2)!.term, 'terms are disjoint per node: never two leaders of one term');
  h.heal();
  assert.ok(h.runUntil(() => formed(h, [1, 2]), 5 * TOKEN), 'the halves did not merge');
  assert.deepEqual(h.violations, []);
});

test('two_node with wait_for_all: a node starting alone is not quorate until it saw its peer', () => {
  const h = new ClusterHarness(clusterConfig({ nodes: [1, 2], twoNode: true, tokenMs: TOKEN }), { twoNodeSplit: true });
  h.restart(1);
  h.run(10 * TOKEN);
  const v = h.view(1)!;
  assert.equal(v.role, 'leader');
  assert.equal(v.quorate, false);
  assert.ok(v.quorum.flags.includes('WaitForAll'));
  h.restart(2);
  assert.ok(h.runUntil(() => formed(h, [1, 2]), 5 * TOKEN));
});

test('arbiter: it decides a 1|1 split of two data nodes, and a cut-off data node is not quorate', () => {
  const h = started([1, 2], { arbiter: true });
  assert.equal(h.view(1)!.membership!.arbiterPresent, true);
  assert.equal(h.view(1)!.quorum.totalVotes, 3);
  const leader = h.quorateLeader()!;
  const other = leader === 1 ? 2 : 1;
  // The data nodes lose each other; both still reach the arbiter: the leader keeps quorum.
  h.cut(1, 2);
  h.run(10 * TOKEN);
  assert.equal(h.quorateLeader(), leader);
  assert.deepEqual(h.quorateNodes(), [leader]);
  h.heal();
  assert.ok(h.runUntil(() => formed(h, [1, 2]), 5 * TOKEN));
  // Now the leader loses the arbiter and its peer: the peer wins with the arbiter.
  h.isolate(leader);
  assert.ok(h.runUntil(() => formed(h, [other]), 5 * TOKEN), 'the peer with the arbiter should take over');
  assert.equal(h.view(leader)!.quorate, false);
  assert.deepEqual(h.violations, []);
});

test('arbiter restart: diskless, it grants no vote for one election timeout, so no leader is elected on its word too early', () => {
  const h = started([1, 2], { arbiter: true });
  const leader = h.quorateLeader()!;
  const other = leader === 1 ? 2 : 1;
  h.crash(0);
  h.restart(0);
  const restartedAt = h.now;
  // The leader dies at once: the peer needs the arbiter's vote, which must wait.
  h.crash(leader);
  assert.ok(h.runUntil(() => formed(h, [other]), 10 * TOKEN));
  const { electionMaxMs } = engineTimings(h.config);
  assert.ok(h.now - restartedAt >= electionMaxMs, `new leader after ${h.now - restartedAt} ms, before the arbiter's listen period of ${electionMaxMs} ms`);
  assert.deepEqual(h.violations, []);
});

test('malformed messages are dropped with a log line that says what is wrong, and change nothing', () => {
  const h = started([1, 2, 3]);
  const before = JSON.stringify(h.view(1));
  const cases: [unknown, unknown, RegExp][] = [
    [2, null, /expected an object/],
    [2, { kind: 'append' }, /message append\.term: expected an integer/],
    [2, { kind: 'vote', term: -1, lastIndex: 0, lastTerm: 0 }, /term: expected an integer in 0\.\./],
    [2, { kind: 'teleport', term: 1 }, /message\.kind: expected one of/],
    [9, { kind: 'vote', term: 99, lastIndex: 0, lastTerm: 0 }, /sender 9 is not a configured voter/],
    [1, { kind: 'vote', term: 99, lastIndex: 0, lastTerm: 0 }, /sender 1 is not a configured voter of this cluster \(or is this node\)/],
    [2, { kind: 'append', term: 99, prevIndex: 0, prevTerm: 0, entries: [{ k: 'member', term: 1 }], commit: 0, round: 0, echo: null, leaseMs: 0 }, /entries\[0\]\.members: expected a list/],
    [2, { kind: 'append', term: 99, prevIndex: 0, prevTerm: 0, entries: Array(65).fill({}), commit: 0, round: 0, echo: null, leaseMs: 0 }, /at most 64 items/],
    [2, { kind: 'request', term: 1, inc: 1, reqs: [{ seq: 1, op: 'msg', group: 'g', payload: 'x'.repeat(70_000) }] }, /a payload has at most 32768 bytes as JSON, got 70002/],
    [0, { kind: 'vote', term: 99, lastIndex: 0, lastTerm: 0 }, /sender 0 is not a configured voter/],
  ];
  for (const [from, message, why] of cases) {
    const effects = h.inject(1, from, message);
    const logs = effects.filter((e) => e.type === 'log');
    assert.equal(logs.length, 1, `one log line for ${JSON.stringify(message)?.slice(0, 80)}`);
    assert.match((logs[0] as { msg: string }).msg, why);
    assert.ok(!effects.some((e) => e.type === 'send' || e.type === 'persist'));
  }
  assert.equal(JSON.stringify(h.view(1)), before);
  h.run(3 * TOKEN);
  assert.ok(formed(h, [1, 2, 3]));
  assert.deepEqual(h.violations, []);
});

test('malformed local calls and events are refused with a message, never thrown', () => {
  const h = started([1, 2, 3]);
  const engine = h.nodes.get(1)!.engine!;
  const bad: unknown[] = [
    { type: 'group-join', now: h.now, group: '' },
    { type: 'group-join', now: h.now, group: 'x'.repeat(200) },
    { type: 'group-send', now: h.now, group: 'nope', payload: 'x' },
    { type: 'group-leave', now: h.now, group: 42 },
    { type: 'explode', now: h.now },
    null,
  ];
  for (const event of bad) {
    const effects = engine.step(event as never);
    assert.ok(effects.some((e) => e.type === 'log' && e.level !== 'info'), `no complaint for ${JSON.stringify(event)}`);
  }
});

test('restart keeps term and vote: a restarted node listens before it votes, then rejoins', () => {
  const h = started([1, 2, 3]);
  const leader = h.quorateLeader()!;
  const term = h.view(leader)!.term;
  h.crash(leader);
  h.restart(leader);
  const v = h.view(leader)!;
  assert.ok(v.term >= term, 'term survived the restart');
  assert.equal(v.quorate, false);
  assert.equal(v.membership, null, 'the log is volatile: nothing agreed is known after a restart');
  assert.ok(h.runUntil(() => formed(h, [1, 2, 3]), 10 * TOKEN));
  assert.deepEqual(h.violations, []);
});

test('auto_tie_breaker: a 2|2 split of four nodes leaves exactly the half with the lowest node quorate', () => {
  const h = started([1, 2, 3, 4], { autoTieBreaker: 'lowest' });
  h.cut(1, 3);
  h.cut(1, 4);
  h.cut(2, 3);
  h.cut(2, 4);
  assert.ok(h.runUntil(() => formed(h, [1, 2]), 5 * TOKEN), 'the half with node 1 should form');
  h.run(5 * TOKEN);
  assert.deepEqual(h.quorateNodes().sort(), [1, 2]);
  assert.ok(h.view(1)!.quorum.flags.includes('AutoTieBreaker'));
  assert.deepEqual(h.violations, []);
});

test('last_man_standing: after the window, expected votes drop to the survivors, so they survive one more loss', () => {
  const h = started([1, 2, 3, 4, 5], { lastManStanding: true, lastManStandingWindowMs: 2000, autoTieBreaker: 'lowest', waitForAll: true });
  const leader = h.quorateLeader()!;
  const [a, b] = [1, 2, 3, 4, 5].filter((id) => id !== leader);
  h.crash(a!);
  h.crash(b!);
  const rest = [1, 2, 3, 4, 5].filter((id) => id !== a && id !== b);
  assert.ok(h.runUntil(() => formed(h, rest), 5 * TOKEN));
  assert.equal(h.view(leader)!.quorum.expectedVotes, 5);
  assert.ok(h.runUntil(() => h.view(leader)!.quorum.expectedVotes === 3, 5 * TOKEN), 'expected votes did not drop after the window');
  assert.ok(h.view(leader)!.quorum.flags.includes('LastManStanding'));
  // Without last_man_standing, 2 of 5 would not be quorate; now 2 of 3 are.
  const c = rest.find((id) => id !== leader)!;
  h.crash(c);
  const two = rest.filter((id) => id !== c);
  assert.ok(h.runUntil(() => formed(h, two), 5 * TOKEN), 'two of the three last nodes should stay quorate');
  // The crashed nodes come back and count again.
  for (const id of [a!, b!, c]) h.restart(id);
  assert.ok(h.runUntil(() => formed(h, [1, 2, 3, 4, 5]), 10 * TOKEN));
  assert.equal(h.view(1)!.quorum.expectedVotes, 5);
  assert.deepEqual(h.violations, []);
});

test('wait_for_all: a cold start is not quorate until all nodes were seen at once', () => {
  const h = new ClusterHarness(clusterConfig({ nodes: [1, 2, 3], waitForAll: true, tokenMs: TOKEN }));
  h.restart(1);
  h.restart(2);
  h.run(10 * TOKEN);
  assert.ok(h.view(1)!.membership?.members.length === 2, 'the two nodes form a membership');
  assert.deepEqual(h.quorateNodes(), [], 'but not quorum, before node 3 was seen');
  h.restart(3);
  assert.ok(h.runUntil(() => formed(h, [1, 2, 3]), 5 * TOKEN));
  h.crash(3);
  assert.ok(h.runUntil(() => formed(h, [1, 2]), 5 * TOKEN), 'once all were seen, a majority stays quorate');
  assert.deepEqual(h.violations, []);
});

test('every message fits one transport datagram, even with the largest payloads, names and group counts', () => {
  const h = started([1, 2, 3]);
  const leader = h.quorateLeader()!;
  const follower = [1, 2, 3].find((id) => id !== leader)!;
  // Names of 128 bytes that JSON escapes to twice their length, in as many groups as allowed.
  const name = (i: number): string => `${String(i).padStart(3, '0')}${'"\\'.repeat(62)}`.slice(0, limits.groupNameBytesMax);
  for (let i = 0; i < limits.groupsPerNodeMax; i++) for (const id of [1, 2, 3]) h.call(id, { type: 'group-join', group: name(id * 100 + i) });
  h.run(2 * TOKEN);
  // Payloads at the limit, sent faster than they commit, from a follower and the leader.
  const big = '\u0001'.repeat(Math.floor(limits.payloadBytesMax / 6) - 1);
  for (let i = 0; i < 40; i++) {
    h.call(follower, { type: 'group-send', group: name(follower * 100), payload: big });
    h.call(leader, { type: 'group-send', group: name(leader * 100), payload: big });
  }
  // A node that comes back needs a snapshot of all those groups.
  h.crash(follower);
  h.run(3 * TOKEN);
  h.restart(follower);
  h.run(5 * TOKEN);
  let largest = 0;
  let largestKind = "";
  let kinds = new Set<string>();
  for (const id of [1, 2, 3]) {
    for (const e of h.effects(id, 'send')) {
      const bytes = Buffer.byteLength(JSON.stringify(e.message));
      if (bytes > largest) {
        largest = bytes;
        largestKind = e.message.kind;
      }
      if (bytes > MESSAGE_BYTES_MAX / 2) kinds.add(e.message.kind);
    }
  }
  assert.ok(largest <= MESSAGE_BYTES_MAX, `a ${largest}-byte ${largestKind} message exceeds the transport's ${MESSAGE_BYTES_MAX}`);
  assert.ok(kinds.has('append') && kinds.has('request'), `the test should reach large appends and requests, saw ${[...kinds]} (largest ${largest})`);
  assert.ok(h.runUntil(() => h.effects(follower, 'deliver').length > 0 || h.view(follower)!.quorate, 5 * TOKEN));
  assert.deepEqual(h.violations, []);
});
