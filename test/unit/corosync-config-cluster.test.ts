// From corosync.conf to ClusterConfig: our defaults, corosync's start-up checks, and what
// our engine refuses beyond corosync. Each refusal must name the file, the line and the rule.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CorosyncConfigError, clusterConfigFrom, parseCorosyncConf } from '../../src/config/corosync/index.js';
import type { ClusterConfig } from '../../src/cluster/types.js';

interface Parts {
  totem?: string[];
  nodes?: string[][];
  quorum?: string[];
  extra?: string;
}

/** A config assembled from parts, one setting per line; `nodes` defaults to two nodes. */
function conf(p: Parts = {}): string {
  const nodes = p.nodes ?? [
    ['ring0_addr: 10.0.0.1', 'name: alpha', 'nodeid: 1'],
    ['ring0_addr: 10.0.0.2', 'name: beta', 'nodeid: 2'],
  ];
  return [
    'totem {',
    '    version: 2',
    '    cluster_name: lab',
    ...(p.totem ?? []).map((l) => `    ${l}`),
    '}',
    'nodelist {',
    ...nodes.flatMap((n) => ['    node {', ...n.map((l) => `        ${l}`), '    }']),
    '}',
    'quorum {',
    '    provider: corosync_votequorum',
    ...(p.quorum ?? []).map((l) => `    ${l}`),
    '}',
    p.extra ?? '',
  ].join('\n');
}

const build = (text: string): ClusterConfig => clusterConfigFrom(parseCorosyncConf(text, 'cluster.conf'), 'cluster.conf');

function refuses(text: string, line: number, pattern: RegExp, code?: string): void {
  try {
    build(text);
  } catch (e) {
    assert.ok(e instanceof CorosyncConfigError, String(e));
    assert.equal(e.line, line, `${e.message}\n--- wrong line in:\n${text.split('\n').map((l, i) => `${i + 1}: ${l}`).join('\n')}`);
    assert.ok(e.message.startsWith(line > 0 ? `cluster.conf:${line}: ` : 'cluster.conf: '), e.message);
    assert.match(e.detail, pattern);
    if (code) assert.equal(e.code, code);
    return;
  }
  assert.fail(`accepted:\n${text}`);
}

/** Line number of the first line of `text` containing `needle` (so tests do not count lines by hand). */
const lineOf = (text: string, needle: string, from = 1): number => {
  const i = text.split('\n').findIndex((l, n) => n + 1 >= from && l.includes(needle));
  assert.ok(i >= 0, `no line with ${needle}`);
  return i + 1;
};

test('a plain two-node config: our defaults', () => {
  const c = build(conf());
  assert.equal(c.file, 'cluster.conf');
  assert.equal(c.clusterName, 'lab');
  assert.equal(c.port, 5405);
  assert.deepEqual(c.timings, { tokenMs: 1000, consensusMs: 1200, joinMs: 50, maxNetworkDelayMs: 50 });
  assert.deepEqual(c.crypto, { cipher: 'aes256', hash: 'sha256', keyFile: null });
  assert.deepEqual(c.nodes, [
    { nodeId: 1, name: 'alpha', addresses: ['10.0.0.1'], votes: 1 },
    { nodeId: 2, name: 'beta', addresses: ['10.0.0.2'], votes: 1 },
  ]);
  assert.deepEqual(c.quorum, {
    expectedVotes: null,
    twoNode: false,
    waitForAll: false,
    lastManStanding: false,
    lastManStandingWindowMs: 10000,
    autoTieBreaker: false,
    autoTieBreakerNode: 'lowest',
  });
  assert.equal(c.arbiter, null);
});

test('timers: consensus follows token (1.2x, truncated); 0 means default; explicit values win', () => {
  assert.deepEqual(build(conf({ totem: ['token: 1005'] })).timings, { tokenMs: 1005, consensusMs: 1206, joinMs: 50, maxNetworkDelayMs: 50 });
  assert.deepEqual(build(conf({ totem: ['token: 0', 'join: 0', 'consensus: 0'] })).timings.tokenMs, 1000);
  assert.deepEqual(build(conf({ totem: ['token: 3000', 'consensus: 3100', 'join: 70', 'max_network_delay: 80'] })).timings, {
    tokenMs: 3000,
    consensusMs: 3100,
    joinMs: 70,
    maxNetworkDelayMs: 80,
  });
});

test('timer limits, as corosync checks them at start', () => {
  const t = (lines: string[], needle: string, pattern: RegExp): void => {
    const text = conf({ totem: lines });
    refuses(text, lineOf(text, needle), pattern);
  };
  t(['token: 29'], 'token:', /^The token timeout parameter \(29 ms\) may not be less than \(30 ms\)\.$/);
  t(['token: 125'], 'token:', /^Not appropriate token or token_retransmits_before_loss_const value set/);
  assert.equal(build(conf({ totem: ['token: 126'] })).timings.tokenMs, 126, '126 / 4.2 = 30 ms between retransmits is enough');
  t(['token_retransmit: 29'], 'token_retransmit:', /^The token retransmit timeout parameter \(29 ms\) may not be less than \(30 ms\)\.$/);
  t(['hold: 13'], 'hold:', /^The token hold timeout parameter \(13 ms\) may not be less than \(14 ms\)\.$/);
  t(['join: 29'], 'join:', /^The join timeout parameter \(29 ms\) may not be less than \(30 ms\)\.$/);
  t(['consensus: 20'], 'consensus:', /^The consensus timeout parameter \(20 ms\) may not be less than \(30 ms\)\.$/);
  t(['consensus: 100', 'join: 200'], 'consensus:', /^The consensus timeout parameter \(100 ms\) may not be less than join timeout \(200 ms\)\.$/);
  // With our 1000 ms token the derived consensus is 1200 ms: a join of 2000 ms is too long (the join line is blamed).
  t(['join: 2000'], 'join:', /^The consensus timeout parameter \(1200 ms\) may not be less than join timeout \(2000 ms\)\.$/);
  t(['max_network_delay: 29'], 'max_network_delay:', /^The max_network_delay parameter \(29 ms\) may not be less than \(30 ms\)\.$/);
  t(['token_warning: 101'], 'token_warning:', /^The token warning parameter \(101%\) must be between 0 \(disabled\) and 100\.$/);
  t(['merge: 29'], 'merge:', /^The merge timeout parameter \(29 ms\)/);
  t(['downcheck: 10'], 'downcheck:', /^The downcheck timeout parameter \(10 ms\)/);
});

test('version, transport and link mode', () => {
  const noVersion = conf().replace('    version: 2\n', '');
  refuses(noVersion, 1, /can only parse version 2 configurations\. totem\.version is not set/, 'COROSYNC_CONF_MISSING');
  const v1 = conf({ totem: ['version: 1'] });
  refuses(v1, lineOf(v1, 'version: 1'), /version 2 configurations\. totem\.version is 1, expected 2/);
  refuses('nodelist {\n}\n', 0, /totem\.version is not set/);
  const tr = conf({ totem: ['transport: sctp'] });
  refuses(tr, lineOf(tr, 'transport'), /^Invalid transport type\. Should be udpu, udp or knet \(totem\.transport is "sctp"\)$/);
  const lm = conf({ totem: ['link_mode: random'] });
  refuses(lm, lineOf(lm, 'link_mode'), /^The Knet link mode "random" specified is invalid\. {2}It must be active, passive or rr\.$/);
});

test('crypto: aes256/sha256 unless set; secauth: off means none; a cipher needs a hash; inline keys are refused', () => {
  assert.deepEqual(build(conf({ totem: ['crypto_cipher: none', 'crypto_hash: none'] })).crypto, { cipher: 'none', hash: 'none', keyFile: null });
  assert.deepEqual(build(conf({ totem: ['secauth: off'] })).crypto, { cipher: 'none', hash: 'none', keyFile: null });
  assert.deepEqual(build(conf({ totem: ['secauth: on', 'keyfile: /etc/k'] })).crypto, { cipher: 'aes256', hash: 'sha256', keyFile: '/etc/k' });
  assert.deepEqual(build(conf({ totem: ['crypto_hash: sha512'] })).crypto, { cipher: 'aes256', hash: 'sha512', keyFile: null });
  assert.deepEqual(build(conf({ totem: ['crypto_cipher: none', 'crypto_hash: sha1'] })).crypto, { cipher: 'none', hash: 'sha1', keyFile: null });
  const noHash = conf({ totem: ['crypto_cipher: aes128', 'crypto_hash: none'] });
  refuses(noHash, lineOf(noHash, 'crypto_hash'), /^crypto_cipher requires crypto_hash with value other than none/, 'COROSYNC_CONF_CONFLICT');
  const sa = conf({ totem: ['secauth: maybe'] });
  refuses(sa, lineOf(sa, 'secauth'), /secauth is "maybe"; expected on or off/);
  const inline = conf({ totem: ['key: 0123456789abcdef'] });
  refuses(inline, lineOf(inline, 'key:'), /inline totem\.key is not supported/, 'COROSYNC_CONF_UNSUPPORTED');
  assert.equal(build(conf({ totem: ['key: unused', 'crypto_cipher: none', 'crypto_hash: none'] })).crypto.cipher, 'none', 'a key nobody uses is harmless');
  const emptyKey = conf({ totem: ['keyfile:'] });
  refuses(emptyKey, lineOf(emptyKey, 'keyfile'), /keyfile is empty/);
});

test('port: link 0 mcastport, else 5405', () => {
  const iface = (n: number, port: number): string[] => ['interface {', `    linknumber: ${n}`, `    mcastport: ${port}`, '}'];
  assert.equal(build(conf({ totem: iface(0, 6000) })).port, 6000);
  assert.equal(build(conf({ totem: iface(1, 6000) })).port, 5405, 'only link 0 sets the base port');
  const zero = conf({ totem: iface(0, 0) });
  refuses(zero, lineOf(zero, 'mcastport'), /mcastport 0 cannot be used/);
  const twoLinks = conf({
    totem: iface(0, 65535),
    nodes: [
      ['ring0_addr: 10.0.0.1', 'ring1_addr: 10.1.0.1', 'name: a', 'nodeid: 1'],
      ['ring0_addr: 10.0.0.2', 'ring1_addr: 10.1.0.2', 'name: b', 'nodeid: 2'],
    ],
  });
  refuses(twoLinks, lineOf(twoLinks, 'mcastport'), /mcastport 65535 is too high for 2 links/);
});

test('nodes: name defaults to ring0_addr; links in order; votes', () => {
  const c = build(
    conf({
      nodes: [
        ['ring0_addr: 10.0.0.1', 'ring1_addr: 10.1.0.1', 'name: a', 'nodeid: 7', 'quorum_votes: 2'],
        ['ring0_addr: 10.0.0.2', 'ring1_addr: 10.1.0.2', 'name: b', 'nodeid: 3', 'quorum_votes: 0'],
      ],
    }),
  );
  assert.deepEqual(c.nodes, [
    { nodeId: 7, name: 'a', addresses: ['10.0.0.1', '10.1.0.1'], votes: 2 },
    { nodeId: 3, name: 'b', addresses: ['10.0.0.2', '10.1.0.2'], votes: 0 },
  ]);
  const unnamed = build(conf({ nodes: [['ring0_addr: host-a.example', 'nodeid: 1'], ['ring0_addr: fd00::2', 'nodeid: 2']] }));
  assert.deepEqual(unnamed.nodes.map((n) => n.name), ['host-a.example', 'fd00::2'], 'host names and literals may mix on a link');
});

test('nodes: what corosync -t refuses', () => {
  const noList = conf().replace(/nodelist \{[\s\S]*?\n\}\n/, '');
  refuses(noList, 0, /^No interfaces defined: there is no nodelist section/, 'COROSYNC_CONF_MISSING');
  const empty = conf({ nodes: [] });
  refuses(empty, lineOf(empty, 'nodelist'), /^No interfaces defined: the nodelist has no node sections/);
  const noId = conf({ nodes: [['ring0_addr: 10.0.0.1', 'nodeid: 1'], ['ring0_addr: 10.0.0.2']] });
  refuses(noId, lineOf(noId, 'node {', 9), /^Knet requires an explicit nodeid to be specified for address '10\.0\.0\.2'\. \(the node has no nodeid/);
  const zeroId = conf({ nodes: [['ring0_addr: 10.0.0.1', 'nodeid: 0']] });
  refuses(zeroId, lineOf(zeroId, 'nodeid: 0'), /explicit nodeid .*nodeid 0 is reserved for the quorum device/);
  const bigId = conf({ nodes: [['ring0_addr: 10.0.0.1', 'nodeid: 65536']] });
  refuses(bigId, lineOf(bigId, 'nodeid: 65536'), /^Knet requires nodeid to be less than 65536 for address '10\.0\.0\.1'\./);
  const dupId = conf({ nodes: [['ring0_addr: 10.0.0.1', 'nodeid: 4'], ['ring0_addr: 10.0.0.2', 'nodeid: 4']] });
  const [first, second] = [lineOf(dupId, 'node {'), lineOf(dupId, 'node {', lineOf(dupId, 'node {') + 1)];
  refuses(dupId, second, new RegExp(`^Nodeid 4 appears twice in corosync\\.conf \\(nodes at lines ${first} and ${second}\\)$`));
  const uneven = conf({ nodes: [['ring0_addr: 10.0.0.1', 'ring1_addr: 10.1.0.1', 'name: a', 'nodeid: 1'], ['ring0_addr: 10.0.0.2', 'name: b', 'nodeid: 2']] });
  refuses(uneven, lineOf(uneven, 'node {', 12), /^Not all nodes have the same number of links \(b has 1, a has 2\)$/);
  const unnamed = conf({ nodes: [['ring0_addr: 10.0.0.1', 'ring1_addr: 10.1.0.1', 'nodeid: 1'], ['ring0_addr: 10.0.0.2', 'ring1_addr: 10.1.0.2', 'name: b', 'nodeid: 2']] });
  refuses(unnamed, lineOf(unnamed, 'node {'), /^for a multi-link configuration, all nodes must have a 'name' attribute$/);
  const families = conf({ nodes: [['ring0_addr: 10.0.0.1', 'nodeid: 1'], ['ring0_addr: fd00::2', 'nodeid: 2']] });
  refuses(families, lineOf(families, 'node {', 9), /^Nodes for link 0 have different IP families \(compared fd00::2 with 10\.0\.0\.1\)$/);
});

test('nodes: addresses must suit totem.ip_version (udp defaults to ipv4)', () => {
  const v6 = [['ring0_addr: fd00::1', 'nodeid: 1'], ['ring0_addr: fd00::2', 'nodeid: 2']];
  assert.equal(build(conf({ nodes: v6 })).nodes.length, 2, 'the default, ipv6-4, takes either family');
  assert.equal(build(conf({ nodes: v6, totem: ['ip_version: ipv6'] })).nodes.length, 2);
  const forced = conf({ nodes: v6, totem: ['ip_version: ipv4'] });
  refuses(forced, lineOf(forced, 'fd00::1'), /^ring0_addr fd00::1 is not an IPv4 address, but totem\.ip_version is ipv4$/, 'COROSYNC_CONF_CONFLICT');
  const udp = conf({ nodes: v6, totem: ['transport: udp'] });
  refuses(udp, lineOf(udp, 'fd00::1'), /is not an IPv4 address, but totem\.ip_version is ipv4 \(the default for transport udp\)$/);
  const v4 = conf({ totem: ['ip_version: ipv6'] });
  refuses(v4, lineOf(v4, '10.0.0.1'), /^ring0_addr 10\.0\.0\.1 is not an IPv6 address/);
  assert.equal(build(conf({ totem: ['ip_version: ipv4'], nodes: [['ring0_addr: host-a', 'nodeid: 1']] })).nodes[0]!.name, 'host-a', 'host names resolve later');
});

test('nodes: what our engine needs beyond corosync -t', () => {
  const noAddr = conf({ nodes: [['ring0_addr: 10.0.0.1', 'nodeid: 1'], ['name: b', 'nodeid: 2']] });
  refuses(noAddr, lineOf(noAddr, 'node {', 9), /^node has no ring0_addr: every node needs the address of its first link/, 'COROSYNC_CONF_MISSING');
  const gap = conf({ nodes: [['ring0_addr: 10.0.0.1', 'ring2_addr: 10.2.0.1', 'name: a', 'nodeid: 1']] });
  refuses(gap, lineOf(gap, 'ring2_addr'), /^ring2_addr without ring1_addr: links must be numbered from 0 without gaps$/, 'COROSYNC_CONF_UNSUPPORTED');
  const dupName = conf({ nodes: [['ring0_addr: 10.0.0.1', 'name: a', 'nodeid: 1'], ['ring0_addr: 10.0.0.2', 'name: a', 'nodeid: 2']] });
  const [a, b] = [lineOf(dupName, 'node {'), lineOf(dupName, 'node {', lineOf(dupName, 'node {') + 1)];
  refuses(dupName, b, new RegExp(`^node name 'a' appears twice \\(nodes at lines ${a} and ${b}\\)`));
  const dupNameByAddr = conf({ nodes: [['ring0_addr: a', 'nodeid: 1'], ['ring0_addr: 10.0.0.2', 'name: a', 'nodeid: 2']] });
  refuses(dupNameByAddr, lineOf(dupNameByAddr, 'node {', 9), /^node name 'a' appears twice/, 'COROSYNC_CONF_CONFLICT');
  const dupAddr = conf({ nodes: [['ring0_addr: 10.0.0.1', 'name: a', 'nodeid: 1'], ['ring0_addr: 10.0.0.1', 'name: b', 'nodeid: 2']] });
  refuses(dupAddr, lineOf(dupAddr, 'node {', 10), /^ring0_addr 10\.0\.0\.1 is used by two nodes \(nodeid 1 and 2\)/);
  const emptyAddr = conf({ nodes: [['ring0_addr:', 'nodeid: 1']] });
  refuses(emptyAddr, lineOf(emptyAddr, 'ring0_addr'), /^ring0_addr is empty/);
  const twoLists = conf() + '\nnodelist {\n    node {\n        ring0_addr: 10.0.0.3\n        nodeid: 3\n    }\n}\n';
  refuses(twoLists, lineOf(twoLists, 'nodelist', 10), /^a second nodelist section \(the first is at line 5\)/);
});

test('quorum: provider required; two_node implies wait_for_all unless it is 0; other switches', () => {
  const noProvider = conf().replace('    provider: corosync_votequorum\n', '');
  refuses(noProvider, lineOf(noProvider, 'quorum {'), /^quorum\.provider is not set/, 'COROSYNC_CONF_UNSUPPORTED');
  const noQuorum = conf().replace(/quorum \{[\s\S]*?\n\}/, '');
  refuses(noQuorum, 0, /^quorum\.provider is not set/);
  const other = conf().replace('corosync_votequorum', 'corosync_quorum');
  refuses(other, lineOf(other, 'provider'), /^quorum provider "corosync_quorum" is not supported; expected corosync_votequorum$/);

  assert.deepEqual(build(conf({ quorum: ['two_node: 1'] })).quorum.waitForAll, true);
  assert.deepEqual(build(conf({ quorum: ['two_node: 1', 'wait_for_all: 0'] })).quorum.waitForAll, false);
  assert.deepEqual(build(conf({ quorum: ['wait_for_all: 7'] })).quorum.waitForAll, true, 'any nonzero uint8 is on');
  const q = build(conf({ quorum: ['expected_votes: 3', 'last_man_standing: 1', 'last_man_standing_window: 2500'] })).quorum;
  assert.equal(q.expectedVotes, 3);
  assert.equal(q.lastManStanding, true);
  assert.equal(q.lastManStandingWindowMs, 2500);
  assert.equal(build(conf({ quorum: ['expected_votes: 0'] })).quorum.expectedVotes, null, '0 means unset, as in votequorum');
  for (const key of ['allow_downscale', 'expected_votes_tracking']) {
    const text = conf({ quorum: [`${key}: 1`] });
    refuses(text, lineOf(text, key), new RegExp(`^quorum\\.${key} is not supported`), 'COROSYNC_CONF_UNSUPPORTED');
  }
});

test('auto_tie_breaker_node: lowest, highest or node ids of the nodelist', () => {
  const four = [1, 2, 3, 4].map((i) => [`ring0_addr: 10.0.0.${i}`, `nodeid: ${i}`]);
  const atb = (value: string): string => conf({ nodes: four, quorum: ['auto_tie_breaker: 1', `auto_tie_breaker_node: ${value}`] });
  assert.deepEqual(build(atb('highest')).quorum.autoTieBreakerNode, 'highest');
  assert.deepEqual(build(atb('4 2')).quorum.autoTieBreakerNode, [4, 2]);
  assert.deepEqual(build(conf({ nodes: four, quorum: ['auto_tie_breaker: 1'] })).quorum, {
    expectedVotes: null,
    twoNode: false,
    waitForAll: false,
    lastManStanding: false,
    lastManStandingWindowMs: 10000,
    autoTieBreaker: true,
    autoTieBreakerNode: 'lowest',
  });
  refuses(atb('first'), lineOf(atb('first'), 'auto_tie_breaker_node'), /^auto_tie_breaker_node is "first": expected lowest, highest or a space-separated list of node ids/);
  refuses(atb('1 x'), lineOf(atb('1 x'), 'auto_tie_breaker_node'), /is "1 x"/);
  refuses(atb('1 9'), lineOf(atb('1 9'), 'auto_tie_breaker_node'), /^auto_tie_breaker_node lists node 9, which is not in the nodelist \(node ids: 1, 2, 3, 4\)$/);
  refuses(atb('2 2'), lineOf(atb('2 2'), 'auto_tie_breaker_node'), /lists node 2 twice/);
});

test('quorum incompatibilities (votequorum start-up checks)', () => {
  const device = ['device {', '    model: net', '    votes: 1', '    net {', '        host: 10.0.0.9', '    }', '}'];
  const at = (quorum: string[], needle: string, pattern: RegExp, nodes?: string[][]): void => {
    const text = conf({ quorum, nodes });
    refuses(text, lineOf(text, needle), pattern, 'COROSYNC_CONF_CONFLICT');
  };
  at(['two_node: 1', ...device], 'two_node', /^two_node and quorum device cannot be configured at the same time/);
  at(['auto_tie_breaker: 1', ...device], 'auto_tie_breaker', /^quorum\.device is not compatible with auto_tie_breaker$/);
  at(['last_man_standing: 1', ...device], 'last_man_standing', /^quorum\.device is not compatible with last_man_standing$/);
  at(['two_node: 1', 'auto_tie_breaker: 1'], 'auto_tie_breaker', /^two_node and auto_tie_breaker are both specified but are not compatible/);
  const three = [1, 2, 3].map((i) => [`ring0_addr: 10.0.0.${i}`, `nodeid: ${i}`]);
  at(['auto_tie_breaker: 1'], 'auto_tie_breaker', /^auto_tie_breaker needs wait_for_all: 1 when the nodes have an odd number of votes \(3\)/, three);
  at(['auto_tie_breaker: 1', 'last_man_standing: 1'], 'auto_tie_breaker', /^auto_tie_breaker & last_man_standing not available in odd sized cluster/, three);
  assert.equal(build(conf({ nodes: three, quorum: ['auto_tie_breaker: 1', 'wait_for_all: 1'] })).quorum.autoTieBreaker, true);
  at(['expected_votes: 2', ...device], 'expected_votes', /^quorum\.device\.votes is too high or expected_votes is too low \(expected_votes 2, device votes 1\)$/);
});

test('quorum device: model net, host, port 5403 by default, votes, algorithm', () => {
  const dev = (lines: string[], net: string[] = ['host: arbiter.example']): string =>
    conf({ quorum: ['device {', ...lines.map((l) => `    ${l}`), '    net {', ...net.map((l) => `        ${l}`), '    }', '}'] });
  assert.deepEqual(build(dev(['model: net'])).arbiter, { host: 'arbiter.example', port: 5403, votes: 1, algorithm: 'ffsplit' });
  assert.deepEqual(build(dev(['model: net', 'votes: 1'], ['host: 10.0.0.9', 'port: 6000', 'algorithm: lms', 'tls: required', 'tie_breaker: 2'])).arbiter, {
    host: '10.0.0.9',
    port: 6000,
    votes: 1,
    algorithm: 'lms',
  });
  const four = [1, 2, 3, 4].map((i) => [`ring0_addr: 10.0.0.${i}`, `nodeid: ${i}`]);
  const lms4 = conf({ nodes: four, quorum: ['device {', 'model: net', 'net {', 'host: h', 'algorithm: lms', '}', '}'] });
  assert.equal(build(lms4).arbiter!.votes, 3, 'votequorum default: nodes - 1');

  const bad = (text: string, needle: string, pattern: RegExp, code: string): void => refuses(text, lineOf(text, needle), pattern, code);
  bad(dev([]), 'device {', /^quorum\.device has no model/, 'COROSYNC_CONF_MISSING');
  bad(dev(['model: disk']), 'model', /^quorum\.device\.model "disk" is not supported; expected net$/, 'COROSYNC_CONF_UNSUPPORTED');
  bad(dev(['model: net'], ['port: 5403']), 'net {', /^quorum\.device\.net\.host is not set/, 'COROSYNC_CONF_MISSING');
  bad(dev(['model: net'], ['host: h', 'port: 0']), 'port', /^quorum\.device\.net\.port is "0": expected a port 1\.\.65535/, 'COROSYNC_CONF_BAD_VALUE');
  bad(dev(['model: net'], ['host: h', 'port: x']), 'port', /port is "x"/, 'COROSYNC_CONF_BAD_VALUE');
  bad(dev(['model: net'], ['host: h', 'algorithm: 2nodelms']), 'algorithm', /2nodelms is meant for corosync's developers/, 'COROSYNC_CONF_UNSUPPORTED');
  bad(dev(['model: net'], ['host: h', 'algorithm: majority']), 'algorithm', /algorithm is "majority": expected ffsplit or lms/, 'COROSYNC_CONF_BAD_VALUE');
  bad(dev(['model: net'], ['host: h', 'tls: maybe']), 'tls', /tls is "maybe": expected on, off or required/, 'COROSYNC_CONF_BAD_VALUE');
  bad(dev(['model: net'], ['host: h', 'tie_breaker: 9']), 'tie_breaker', /tie_breaker is "9": expected lowest, highest or the nodeid of a node/, 'COROSYNC_CONF_BAD_VALUE');
  bad(dev(['model: net', 'votes: 0']), 'votes', /^quorum\.device\.votes is 0/, 'COROSYNC_CONF_BAD_VALUE');
  bad(dev(['model: net', 'votes: 2']), 'votes', /^algorithm ffsplit gives exactly one vote: .*device votes 2\)$/, 'COROSYNC_CONF_CONFLICT');
  const ffsplit4 = conf({ nodes: four, quorum: ['device {', 'model: net', 'net {', 'host: h', '}', '}'] });
  bad(ffsplit4, 'device {', /device votes 3, the default of nodes - 1\)$/, 'COROSYNC_CONF_CONFLICT');
  const heur = conf({ quorum: ['device {', 'model: net', 'net {', 'host: h', '}', 'heuristics {', 'mode: sync', '}', '}'] });
  bad(heur, 'mode:', /heuristics are not supported by our arbiter/, 'COROSYNC_CONF_UNSUPPORTED');
  const heurOff = conf({ quorum: ['device {', 'model: net', 'net {', 'host: h', '}', 'heuristics {', 'mode: off', '}', '}'] });
  assert.equal(build(heurOff).arbiter!.host, 'h');
  const noName = dev(['model: net']).replace('    cluster_name: lab\n', '');
  bad(noName, 'totem {', /needs totem\.cluster_name/, 'COROSYNC_CONF_MISSING');
  const weighted = conf({
    nodes: [['ring0_addr: a', 'nodeid: 1', 'quorum_votes: 2'], ['ring0_addr: b', 'nodeid: 2']],
    quorum: ['device {', 'model: net', 'net {', 'host: h', '}', '}'],
  });
  bad(weighted, 'device {', /^quorum\.device\.votes must be specified when not all nodes votes 1$/, 'COROSYNC_CONF_MISSING');
  const expected = conf({ quorum: ['expected_votes: 5', 'device {', 'model: net', 'net {', 'host: h', '}', '}'] });
  bad(expected, 'device {', /^quorum\.device\.votes must be specified when quorum\.expected_votes is set$/, 'COROSYNC_CONF_MISSING');
});

test('logging values are checked, in the section and in each logger_subsys', () => {
  const ok = conf({
    extra: 'logging {\n    to_stderr: on\n    timestamp: hires\n    syslog_facility: local3\n    logger_subsys {\n        subsys: QUORUM\n        debug: trace\n    }\n}\n',
  });
  assert.doesNotThrow(() => build(ok));
  const cases: [string, RegExp][] = [
    ['to_stderr: true', /^unknown value for to_stderr\. \(logging\.to_stderr is "true"; expected yes, no, on, off\)$/],
    ['debug: yes', /^unknown value for debug\./],
    ['timestamp: yes', /^unknown value for timestamp\./],
    ['fileline: yes', /^unknown value for fileline\./],
    ['syslog_facility: local8', /^unknown syslog facility specified\./],
    ['syslog_priority: warn', /^unknown syslog priority specified\./],
    ['logfile_priority: trace', /^unknown logfile priority specified\./],
  ];
  for (const [line, pattern] of cases) {
    const text = conf({ extra: `logging {\n    ${line}\n}\n` });
    refuses(text, lineOf(text, line), pattern, 'COROSYNC_CONF_BAD_VALUE');
  }
  const sub = conf({ extra: 'logging {\n    logger_subsys {\n        subsys: QUORUM\n        to_syslog: maybe\n    }\n}\n' });
  refuses(sub, lineOf(sub, 'to_syslog'), /^unknown value for to_syslog\. \(logging\.logger_subsys\.QUORUM\.to_syslog is "maybe"/);
});

test('errors without a line name the file alone', () => {
  try {
    build('');
    assert.fail('accepted an empty file');
  } catch (e) {
    assert.ok(e instanceof CorosyncConfigError);
    assert.equal(e.line, 0);
    assert.match(e.message, /^cluster\.conf: This totem parser can only parse version 2 configurations\./);
  }
});
