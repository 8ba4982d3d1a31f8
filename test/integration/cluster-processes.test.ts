// Real `safeside daemon --cluster` processes (and the arbiter) in a network namespace
// of the test: membership, quorum and message order as the CLI shows them, under
// kill -9, SIGSTOP and links cut with iptables.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterLab, sleep, type MembersJson } from '../helpers/cluster-lab.js';
import { isRoot } from '../helpers/node-daemon.js';

const skip = isRoot() ? false : 'needs root for a network namespace and iptables';

async function agreed(lab: ClusterLab, names: string[], members: string[]): Promise<MembersJson[]> {
  const views = await Promise.all(names.map((n) => lab.membersJson(n)));
  const ring = views[0]!['ring-id'];
  const ok = views.every((v) => v['ring-id'] === ring && v.quorate && JSON.stringify(v.members) === JSON.stringify(members));
  return ok ? views : (null as unknown as MembersJson[]);
}

async function waitAgreed(lab: ClusterLab, names: string[], members: string[], timeoutMs = 10_000): Promise<MembersJson[]> {
  return lab.waitFor(`${names.join(',')} to agree on members ${members.join(' ')}`, () => agreed(lab, names, members), timeoutMs);
}

test('three nodes agree on one membership, are quorate, and `safeside quorum` reads like corosync-quorumtool', { skip, timeout: 60_000 }, async () => {
  const lab = new ClusterLab({ nodes: 3 });
  try {
    await lab.startAll();
    const views = await waitAgreed(lab, lab.names, ['node1', 'node2', 'node3']);
    assert.equal(new Set(views.map((v) => v.leader)).size, 1, 'one leader seen by all');

    const text = lab.cli('node2', ['quorum']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^Quorum information\n------------------\n/);
    assert.match(text.stdout, /\nQuorate: {10}Yes\n/);
    assert.match(text.stdout, /\nExpected votes: {3}3\n/);
    assert.match(text.stdout, /\nQuorum: {11}2  \n/);
    assert.match(text.stdout, /\n {9}2 {10}1 node2 \(local\)\n/);
    const json = JSON.parse(lab.cli('node2', ['quorum', '--json']).stdout) as Record<string, unknown>;
    assert.deepEqual(
      { quorate: json.quorate, members: json.members, expected: json['expected-votes'], total: json['total-votes'], quorum: json.quorum },
      { quorate: true, members: ['node1', 'node2', 'node3'], expected: 3, total: 3, quorum: 2 },
    );
    assert.equal(json['ring-id'], views[0]!['ring-id']);
  } finally {
    await lab.close();
  }
});

test('group messages sent concurrently from three nodes are delivered in one order everywhere', { skip, timeout: 60_000 }, async () => {
  const lab = new ClusterLab({ nodes: 3 });
  try {
    await lab.startAll();
    await waitAgreed(lab, lab.names, ['node1', 'node2', 'node3']);
    for (const n of lab.names) assert.equal((await lab.call(n, 'group-join', ['orders'])).exitCode, 0);
    await lab.waitFor('every node to see the 3 group members', async () => {
      for (const n of lab.names) {
        const log = JSON.parse((await lab.call(n, 'group-log', ['orders'], { json: true })).stdout) as { kind: string; members?: string[] }[];
        const last = log.filter((e) => e.kind === 'change').at(-1);
        if (!last || last.members!.length !== 3) return false;
      }
      return true;
    }, 10_000);
    const perNode = 40;
    await Promise.all(
      lab.names.map(async (n) => {
        for (let i = 0; i < perNode; i++) await lab.call(n, 'group-send', ['orders', `${n}-${i}`]);
      }),
    );
    const logs = await lab.waitFor('all messages delivered on every node', async () => {
      const ls = await Promise.all(
        lab.names.map(async (n) =>
          (JSON.parse((await lab.call(n, 'group-log', ['orders'], { json: true })).stdout) as { kind: string; payload?: string; seq?: number }[]).filter(
            (e) => e.kind === 'message',
          ),
        ),
      );
      return ls.every((l) => l.length >= perNode * 3) ? ls : null;
    }, 20_000);
    const orders = logs.map((l) => l.map((e) => `${e.seq}:${e.payload}`).join(','));
    assert.equal(orders[1], orders[0], 'node2 delivered in node1\'s order');
    assert.equal(orders[2], orders[0], 'node3 delivered in node1\'s order');
    const payloads = logs[0]!.map((e) => e.payload!);
    assert.equal(new Set(payloads).size, perNode * 3, 'each message exactly once');
    for (const n of lab.names) {
      const mine = payloads.filter((p) => p.startsWith(`${n}-`));
      assert.deepEqual(mine, Array.from({ length: perNode }, (_, i) => `${n}-${i}`), `${n}'s messages keep their sending order`);
    }
    const seqs = logs[0]!.map((e) => e.seq!);
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, 'sequence numbers increase');
  } finally {
    await lab.close();
  }
});

test('kill -9 of the leader: the survivors agree on a new membership within seconds and stay quorate', { skip, timeout: 60_000 }, async () => {
  const lab = new ClusterLab({ nodes: 3 });
  try {
    await lab.startAll();
    const before = await waitAgreed(lab, lab.names, ['node1', 'node2', 'node3']);
    const leader = before[0]!.leader!;
    const survivors = lab.names.filter((n) => n !== leader);
    const t0 = Date.now();
    await lab.crash(leader);
    const after = await waitAgreed(lab, survivors, survivors, 8_000);
    const ms = Date.now() - t0;
    console.log(`# kill -9 of leader ${leader}: new membership ${after[0]!['ring-id']} of ${survivors.join(' ')} after ${ms} ms`);
    assert.notEqual(after[0]!['ring-id'], before[0]!['ring-id']);
    for (const n of survivors) assert.equal(lab.cli(n, ['quorum']).code, 0, `${n} quorate`);

    await lab.start(leader);
    await waitAgreed(lab, lab.names, ['node1', 'node2', 'node3']);
  } finally {
    await lab.close();
  }
});

test('a partitioned node loses quorum, the majority keeps it, and both sides are never quorate at once', { skip, timeout: 60_000 }, async () => {
  const lab = new ClusterLab({ nodes: 3 });
  try {
    await lab.startAll();
    await waitAgreed(lab, lab.names, ['node1', 'node2', 'node3']);
    lab.isolate('node3');
    const t0 = Date.now();
    let overlap = 0;
    let minorityLostAt = 0;
    let majorityAt = 0;
    while (Date.now() - t0 < 6_000 && !(minorityLostAt && majorityAt)) {
      const [m, a, b] = await Promise.all([lab.membersJson('node3'), lab.membersJson('node1'), lab.membersJson('node2')]);
      const majorityNew = [a, b].some((v) => v.quorate && !v.members.includes('node3'));
      if (m.quorate && majorityNew) overlap++;
      if (!m.quorate && !minorityLostAt) minorityLostAt = Date.now() - t0;
      if (a.quorate && b.quorate && !a.members.includes('node3') && a['ring-id'] === b['ring-id'] && !majorityAt) majorityAt = Date.now() - t0;
      await sleep(5);
    }
    console.log(`# partition: node3 not quorate after ${minorityLostAt} ms; node1+node2 new membership after ${majorityAt} ms`);
    assert.ok(minorityLostAt > 0, 'the isolated node lost quorum');
    assert.ok(majorityAt > 0, 'the majority formed a new quorate membership');
    assert.equal(overlap, 0, 'no instant with two quorate sides');
    assert.equal(lab.cli('node3', ['quorum']).code, 2, 'quorum exit code 2 when not quorate');
    lab.heal();
    await waitAgreed(lab, lab.names, ['node1', 'node2', 'node3'], 10_000);
  } finally {
    await lab.close();
  }
});

test('a paused node (SIGSTOP) never reports its stale quorum after it resumes', { skip, timeout: 60_000 }, async () => {
  const lab = new ClusterLab({ nodes: 3 });
  try {
    await lab.startAll();
    const before = await waitAgreed(lab, lab.names, ['node1', 'node2', 'node3']);
    const victim = before[0]!.leader!;
    const others = lab.names.filter((n) => n !== victim);
    lab.pause(victim);
    await waitAgreed(lab, others, others, 8_000);
    lab.resume(victim);
    // From the first answer after SIGCONT on: quorate only with a ring newer than the one it was paused in.
    for (let i = 0; i < 50; i++) {
      const v = await lab.membersJson(victim);
      if (v.quorate) assert.notEqual(v['ring-id'], before[0]!['ring-id'], 'the resumed node reported its stale ring as quorate');
      await sleep(10);
    }
    await waitAgreed(lab, lab.names, ['node1', 'node2', 'node3'], 10_000);
  } finally {
    await lab.close();
  }
});

test('two nodes and the arbiter: either node survives the loss of the other; a split leaves exactly one quorate side', { skip, timeout: 90_000 }, async () => {
  const lab = new ClusterLab({ nodes: 2, arbiter: true });
  try {
    await lab.startAll();
    await waitAgreed(lab, lab.names, ['node1', 'node2']);
    const q = JSON.parse(lab.cli('node1', ['quorum', '--json']).stdout) as Record<string, unknown>;
    assert.equal(q['expected-votes'], 3);
    assert.equal(q['total-votes'], 3);

    await lab.crash('node2');
    await waitAgreed(lab, ['node1'], ['node1'], 8_000);
    assert.equal(lab.cli('node1', ['quorum']).code, 0, 'node1 quorate with the arbiter');
    await lab.start('node2');
    await waitAgreed(lab, lab.names, ['node1', 'node2'], 10_000);

    await lab.crash('node1');
    await waitAgreed(lab, ['node2'], ['node2'], 8_000);
    await lab.start('node1');
    await waitAgreed(lab, lab.names, ['node1', 'node2'], 10_000);

    // Both nodes still reach the arbiter, but not each other.
    lab.cut('node1', 'node2');
    let both = 0;
    const t0 = Date.now();
    let settled: [boolean, boolean] | null = null;
    while (Date.now() - t0 < 8_000) {
      const [a, b] = await Promise.all([lab.membersJson('node1'), lab.membersJson('node2')]);
      if (a.quorate && b.quorate && !a.members.includes('node2') && !b.members.includes('node1')) both++;
      if (a.quorate && b.quorate && a['ring-id'] !== b['ring-id']) both++;
      // The losing side cannot agree on anything new, so it keeps its last membership, not quorate.
      const winner = a.quorate ? a : b;
      if (a.quorate !== b.quorate && winner.members.length === 1) settled = [a.quorate, b.quorate];
      if (settled && Date.now() - t0 > 4_000) break;
      await sleep(5);
    }
    assert.equal(both, 0, 'never two quorate sides');
    assert.ok(settled, 'exactly one side is quorate after the split');
    lab.heal();
    await waitAgreed(lab, lab.names, ['node1', 'node2'], 10_000);
  } finally {
    await lab.close();
  }
});

test('two_node without an arbiter: both halves of a split stay quorate, as corosync does (fencing needed)', { skip, timeout: 60_000 }, async () => {
  const lab = new ClusterLab({ nodes: 2, twoNode: true });
  try {
    await lab.startAll();
    await waitAgreed(lab, lab.names, ['node1', 'node2']);
    const flags = lab.cli('node1', ['quorum']).stdout;
    assert.match(flags, /Flags: {12}2Node Quorate WaitForAll \n/);
    lab.cut('node1', 'node2');
    await waitAgreed(lab, ['node1'], ['node1'], 8_000);
    await waitAgreed(lab, ['node2'], ['node2'], 8_000);
    lab.heal();
    await waitAgreed(lab, lab.names, ['node1', 'node2'], 10_000);
  } finally {
    await lab.close();
  }
});

test('with two links, losing link 0 moves traffic to link 1 without a membership change', { skip, timeout: 60_000 }, async () => {
  const lab = new ClusterLab({ nodes: 3, twoLinks: true });
  try {
    await lab.startAll();
    const before = await waitAgreed(lab, lab.names, ['node1', 'node2', 'node3']);
    const ring = before[0]!['ring-id'];
    // Cuts only the ring0 addresses (127.0.0.N); ring1 (127.0.1.N) stays up.
    lab.cut('node1', 'node2');
    lab.cut('node1', 'node3');
    lab.cut('node2', 'node3');
    const t0 = Date.now();
    await lab.waitFor('link 0 to be reported down on node1', async () => {
      const links = (await lab.membersJson('node1')) as unknown as { nodes: { name: string; links: { link: number; up: boolean }[] }[] };
      return links.nodes.filter((n) => n.name !== 'node1').every((n) => n.links.some((l) => l.link === 0 && !l.up) && n.links.some((l) => l.link === 1 && l.up));
    }, 5_000);
    console.log(`# link 0 down on node1 after ${Date.now() - t0} ms`);
    // Several tokens later the membership is still the same ring, quorate everywhere.
    await sleep(3_000);
    const during = await agreed(lab, lab.names, ['node1', 'node2', 'node3']);
    assert.ok(during, 'all three still agree and are quorate');
    assert.equal(during[0]!['ring-id'], ring, 'no membership change while link 1 carries the traffic');
    lab.heal();
    await lab.waitFor('link 0 back up on node1', async () => {
      const links = (await lab.membersJson('node1')) as unknown as { nodes: { name: string; links: { link: number; up: boolean }[] }[] };
      return links.nodes.filter((n) => n.name !== 'node1').every((n) => n.links.some((l) => l.link === 0 && l.up));
    }, 5_000);
    assert.equal((await lab.membersJson('node2'))['ring-id'], ring);
  } finally {
    await lab.close();
  }
});
