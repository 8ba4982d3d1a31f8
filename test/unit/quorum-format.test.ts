// `safeside quorum` against real corosync-quorumtool -s output. The expected texts are the
// lines captured from corosync 3.1.7 (reference/corosync.md §5.4), retyped here; the
// status they are printed from is computed by our votequorum, not written by hand.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Votequorum, quorumConfigOf } from '../../src/cluster/votequorum.js';
import { ctimeString, formatQuorumtool, quorumExitCode, quorumJson, type QuorumReportInput } from '../../src/cluster/quorum-format.js';
import type { ArbiterOptions, ClusterConfig, Membership } from '../../src/cluster/types.js';

function clusterConfig(o: { twoNode?: boolean; arbiter?: ArbiterOptions } = {}): ClusterConfig {
  return {
    file: '/etc/corosync/corosync.conf',
    clusterName: 'demo',
    port: 5405,
    timings: { tokenMs: 1000, consensusMs: 1200, joinMs: 50, maxNetworkDelayMs: 50 },
    crypto: { cipher: 'none', hash: 'none', keyFile: null },
    nodes: [
      { nodeId: 1, name: 'node1', addresses: ['169.254.77.1'], votes: 1 },
      { nodeId: 2, name: 'node2', addresses: ['169.254.77.2'], votes: 1 },
    ],
    quorum: {
      expectedVotes: null,
      twoNode: o.twoNode ?? false,
      waitForAll: o.twoNode ?? false,
      lastManStanding: false,
      lastManStandingWindowMs: 10000,
      autoTieBreaker: false,
      autoTieBreakerNode: 'lowest',
    },
    arbiter: o.arbiter ?? null,
  };
}

const DATE = 'Tue Nov 24 18:55:57 2026';

/** Node 1's report after the given memberships, as our tracker computes it. */
function report(config: ClusterConfig, memberships: Membership[]): QuorumReportInput {
  const t = new Votequorum(quorumConfigOf(config), 1);
  memberships.forEach((m, i) => t.onMembership(m.members, m.arbiterPresent, i));
  return { config, self: 1, status: t.status(), membership: memberships.at(-1) ?? null, date: DATE };
}

test('2-node two_node cluster, both up: the captured quorumtool -s text, byte for byte', () => {
  const config = clusterConfig({ twoNode: true });
  const input = report(config, [{ ringId: { rep: 1, seq: 9 }, members: [1, 2], arbiterPresent: false }]);
  const captured = [
    'Quorum information',
    '------------------',
    'Date:             Tue Nov 24 18:55:57 2026',
    'Quorum provider:  corosync_votequorum',
    'Nodes:            2',
    'Node ID:          1',
    'Ring ID:          1.9',
    'Quorate:          Yes',
    '',
    'Votequorum information',
    '----------------------',
    'Expected votes:   2',
    'Highest expected: 2',
    'Total votes:      2',
    'Quorum:           1  ',
    'Flags:            2Node Quorate WaitForAll ',
    '',
    'Membership information',
    '----------------------',
    '    Nodeid      Votes Name',
    '         1          1 node1 (local)',
    '         2          1 node2',
    '',
  ].join('\n');
  assert.equal(formatQuorumtool(input), captured);
  assert.equal(quorumExitCode(input.status), 0);
});

test('a lone two_node start: the captured "not quorate" lines', () => {
  const config = clusterConfig({ twoNode: true });
  const input = report(config, [{ ringId: { rep: 1, seq: 4 }, members: [1], arbiterPresent: false }]);
  const lines = formatQuorumtool(input).split('\n');
  for (const captured of ['Quorate:          No', 'Quorum:           1 Activity blocked', 'Flags:            2Node WaitForAll ']) {
    assert.ok(lines.includes(captured), `missing ${JSON.stringify(captured)} in\n${lines.join('\n')}`);
  }
  assert.equal(quorumExitCode(input.status), 2);
});

test('2 nodes with a quorum device: the captured Qdevice column and row', () => {
  const config = clusterConfig({ arbiter: { host: '169.254.79.9', port: 5403, votes: 1, algorithm: 'ffsplit' } });
  const input = report(config, [{ ringId: { rep: 1, seq: 8 }, members: [1, 2], arbiterPresent: true }]);
  const lines = formatQuorumtool(input).split('\n');
  for (const captured of [
    'Expected votes:   3',
    'Flags:            Quorate Qdevice ',
    '    Nodeid      Votes    Qdevice Name',
    '         1          1    A,V,NMW node1 (local)',
    '         0          1            Qdevice',
  ]) {
    assert.ok(lines.includes(captured), `missing ${JSON.stringify(captured)} in\n${lines.join('\n')}`);
  }
  assert.equal(lines.at(-2), '         0          1            Qdevice', 'the device row comes last');
});

test('a device that does not vote here shows 0 votes and its configured votes after the name (as quorumtool does)', () => {
  const config = clusterConfig({ arbiter: { host: '169.254.79.9', port: 5403, votes: 1, algorithm: 'ffsplit' } });
  const input = report(config, [{ ringId: { rep: 1, seq: 8 }, members: [1, 2], arbiterPresent: false }]);
  const lines = formatQuorumtool(input).split('\n');
  // quorumtool's snprintf(buf, sizeof(buf) - 1, ...) into char buf[10] keeps 8 characters.
  assert.ok(lines.includes('         1          1   NA,NV,NM node1 (local)'), lines.join('\n'));
  assert.ok(lines.includes('         0          0            Qdevice (votes 1)'));
});

test('ring ids print in hex, as %x.%lx', () => {
  const config = clusterConfig();
  const input = report(config, [{ ringId: { rep: 26, seq: 300 }, members: [1, 2], arbiterPresent: false }]);
  assert.ok(formatQuorumtool(input).includes('\nRing ID:          1a.12c\n'));
  assert.equal(quorumJson(input)['ring-id'], '1a.12c');
});

test('dates print as ctime(3) does', () => {
  assert.equal(ctimeString(new Date(2026, 10, 24, 18, 55, 57)), DATE);
  assert.equal(ctimeString(new Date(2026, 1, 4, 7, 5, 9)), 'Wed Feb  4 07:05:09 2026');
  const input = { ...report(clusterConfig(), [{ ringId: { rep: 1, seq: 1 }, members: [1], arbiterPresent: false }]), date: new Date(2026, 10, 24, 18, 55, 57) };
  assert.ok(formatQuorumtool(input).includes(`\nDate:             ${DATE}\n`));
});

test('quorum --json: the keys of the command-line contract', () => {
  const config = clusterConfig({ twoNode: true });
  const input = report(config, [{ ringId: { rep: 1, seq: 9 }, members: [1, 2], arbiterPresent: false }]);
  assert.deepEqual(quorumJson(input), {
    quorate: true,
    'ring-id': '1.9',
    members: ['node1', 'node2'],
    'expected-votes': 2,
    'total-votes': 2,
    quorum: 1,
    flags: ['2Node', 'Quorate', 'WaitForAll'],
    'node-id': 1,
    nodes: [
      { id: 1, name: 'node1', votes: 1 },
      { id: 2, name: 'node2', votes: 1 },
    ],
  });
});

test('before the first membership: no ring, no members', () => {
  const config = clusterConfig();
  const input = report(config, []);
  assert.equal(quorumJson(input)['ring-id'], null);
  assert.deepEqual(quorumJson(input).members, []);
  const text = formatQuorumtool(input);
  assert.ok(text.includes('\nNodes:            0\n') && text.endsWith('    Nodeid      Votes Name\n'));
});
