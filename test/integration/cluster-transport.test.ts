// The cluster transport over real UDP sockets on loopback (ring0 127.0.0.N, ring1
// 127.0.1.N): messages flow; strangers (wrong key, wrong cluster, unknown node id, garbage,
// oversized, impersonation from a raw socket) are dropped and counted, never delivered;
// the arbiter's single link; and, as root, link 0 cut by iptables inside a network
// namespace this test creates: messages keep flowing over link 1 within one token
// timeout, and return to link 0 when it heals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClusterTransport, MESSAGE_BYTES_MAX, TransportError, type ReceivedMessage, type TransportLogger } from '../../src/runtime/cluster/transport.js';
import { PacketCrypto } from '../../src/runtime/cluster/packet-crypto.js';
import { encodeInner } from '../../src/runtime/cluster/link-wire.js';
import type { ClusterConfig, ClusterCrypto } from '../../src/cluster/types.js';

const CHILD_ENV = 'SAFESIDE_TRANSPORT_FAILOVER_CHILD';

interface NodeSpec {
  id: number;
  /** Last octet of 127.0.0.N / 127.0.1.N. */
  host: number;
  links?: number;
}

interface ConfigOptions {
  port: number;
  nodes: NodeSpec[];
  cluster?: string;
  crypto?: Partial<ClusterCrypto>;
  tokenMs?: number;
  arbiter?: { host: string; port: number } | null;
}

function makeConfig(o: ConfigOptions): ClusterConfig {
  const tokenMs = o.tokenMs ?? 1000;
  return {
    file: '/test/corosync.conf',
    clusterName: o.cluster ?? 'lab',
    port: o.port,
    timings: { tokenMs, consensusMs: tokenMs * 1.2, joinMs: 50, maxNetworkDelayMs: 50 },
    crypto: { cipher: 'aes256', hash: 'sha256', keyFile: null, ...o.crypto },
    nodes: o.nodes.map((n) => ({
      nodeId: n.id,
      name: `node${n.id}`,
      addresses: Array.from({ length: n.links ?? 2 }, (_, link) => `127.0.${link}.${n.host}`),
      votes: 1,
    })),
    quorum: {
      expectedVotes: null,
      twoNode: false,
      waitForAll: false,
      lastManStanding: false,
      lastManStandingWindowMs: 10_000,
      autoTieBreaker: false,
      autoTieBreakerNode: 'lowest',
    },
    arbiter: o.arbiter ? { ...o.arbiter, votes: 1, algorithm: 'ffsplit' } : null,
  };
}

interface MemLog extends TransportLogger {
  lines: { level: string; msg: string }[];
}
function memLog(): MemLog {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (_o: object, msg?: string) => void lines.push({ level, msg: msg ?? '' });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

interface Started {
  t: ClusterTransport;
  log: MemLog;
  inbox: (ReceivedMessage & { at: number })[];
}

/** A random base port; links use base and base+1, the arbiter base+10. Retried on EADDRINUSE. */
async function startGroup(build: (port: number) => { config: ClusterConfig; self: number; key: Buffer }[]): Promise<{ port: number; nodes: Started[] }> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const port = 41_000 + crypto.randomInt(0, 900) * 20;
    const nodes: Started[] = [];
    try {
      for (const spec of build(port)) {
        const log = memLog();
        const t = new ClusterTransport({ ...spec, log });
        const s: Started = { t, log, inbox: [] };
        t.onMessage((m) => s.inbox.push({ ...m, at: performance.now() }));
        nodes.push(s);
        await t.start();
      }
      return { port, nodes };
    } catch (err) {
      await Promise.all(nodes.map((n) => n.t.close()));
      if (err instanceof TransportError && err.code === 'ERR_CLUSTER_BIND' && /EADDRINUSE/.test(err.message)) continue;
      throw err;
    }
  }
  throw new Error('no free port range found after 8 attempts');
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

const allLinksUp = (nodes: Started[]): boolean => nodes.every((n) => n.t.linkStatus().every((l) => l.up));

const threeNodes = (port: number, key: Buffer): { config: ClusterConfig; self: number; key: Buffer }[] => {
  const config = makeConfig({ port, nodes: [1, 2, 3].map((i) => ({ id: i, host: i })) });
  return [1, 2, 3].map((self) => ({ config, self, key }));
};

// ---------------------------------------------------------------------------------------

if (process.env[CHILD_ENV] !== '1') {
  test('three nodes: links come up, messages flow both ways over link 0, with rtt and counters', async () => {
    const key = crypto.randomBytes(256);
    const { nodes } = await startGroup((port) => threeNodes(port, key));
    try {
      await until('every link of every node up', () => allLinksUp(nodes));
      const [a, b, c] = nodes as [Started, Started, Started];
      for (const [from, to] of [[a, b], [b, a], [a, c], [c, b]] as const) {
        from.t.send(to === a ? 1 : to === b ? 2 : 3, { kind: 'hello', from: from === a ? 1 : from === b ? 2 : 3, text: 'grüße ✓' });
      }
      await until('four messages', () => a.inbox.length + b.inbox.length + c.inbox.length === 4);
      assert.deepEqual(
        b.inbox.map((m) => [m.from, m.link, m.message]).sort(),
        [
          [1, 0, { kind: 'hello', from: 1, text: 'grüße ✓' }],
          [3, 0, { kind: 'hello', from: 3, text: 'grüße ✓' }],
        ],
      );
      assert.deepEqual(a.inbox.map((m) => [m.from, m.link]), [[2, 0]]);
      assert.deepEqual(c.inbox.map((m) => [m.from, m.link]), [[1, 0]]);
      const st = a.t.status();
      assert.deepEqual(
        st.links.map((l) => [l.node, l.link, l.address, l.up, l.active]),
        [
          [2, 0, `127.0.0.2:${a.t.localAddresses()[0]!.port}`, true, true],
          [2, 1, `127.0.1.2:${a.t.localAddresses()[0]!.port + 1}`, true, false],
          [3, 0, `127.0.0.3:${a.t.localAddresses()[0]!.port}`, true, true],
          [3, 1, `127.0.1.3:${a.t.localAddresses()[0]!.port + 1}`, true, false],
        ],
      );
      for (const l of st.links) {
        assert.ok(l.rttMs !== null && l.rttMs >= 0 && l.rttMs < 500, `rtt ${l.rttMs}`);
        assert.ok(l.lastPongAgeMs !== null && l.lastPongAgeMs < 500);
      }
      assert.equal(st.counters.messagesSent, 2);
      assert.equal(st.counters.messagesReceived, 1);
      assert.ok(st.counters.pingsSent > 0 && st.counters.pongsReceived > 0);
      // Duplicates are by design (a late link gets a companion), so they do not count here.
      const drops = Object.entries(st.counters).filter(([k, v]) => k.startsWith('dropped') && k !== 'droppedDuplicate' && v !== 0);
      assert.deepEqual(drops, [], 'nothing dropped among nodes with the same key');
    } finally {
      await Promise.all(nodes.map((n) => n.t.close()));
    }
  });

  test('a node with the wrong key, another cluster, or an unknown node id is dropped and counted, never delivered', async () => {
    const key = crypto.randomBytes(256);
    const { nodes } = await startGroup((port) => {
      const good = makeConfig({ port, nodes: [1, 2, 3].map((i) => ({ id: i, host: i })) });
      // node 4's own config lists itself; the others' nodelist does not.
      const withStranger = makeConfig({ port, nodes: [1, 2, 3, 4].map((i) => ({ id: i, host: i })) });
      const otherCluster = makeConfig({ port, cluster: 'other', nodes: [1, 2, 3, 5].map((i) => ({ id: i, host: i })) });
      return [
        { config: good, self: 1, key },
        { config: good, self: 2, key },
        { config: good, self: 3, key: crypto.randomBytes(256) }, // listed, but the wrong key
        { config: withStranger, self: 4, key },
        { config: otherCluster, self: 5, key },
      ];
    });
    const [a, b, wrongKey, stranger, other] = nodes as [Started, Started, Started, Started, Started];
    try {
      await until('link 0 and 1 between the two good nodes', () => a.t.linkStatus().filter((l) => l.node === 2).every((l) => l.up));
      for (let i = 0; i < 5; i++) {
        wrongKey.t.send(1, { kind: 'vote', i });
        stranger.t.send(1, { kind: 'vote', i });
        other.t.send(1, { kind: 'vote', i });
      }
      b.t.send(1, { kind: 'marker' });
      await until('the marker from node 2', () => a.inbox.some((m) => m.message.kind === 'marker'));
      await sleep(300); // a few ping rounds from the strangers
      assert.deepEqual(a.inbox.map((m) => m.from), [2], 'only the good node got through');
      const c = a.t.counters();
      assert.ok(c.droppedBadMac >= 5, `droppedBadMac ${c.droppedBadMac}`);
      assert.ok(c.droppedUnknownSender >= 5, `droppedUnknownSender ${c.droppedUnknownSender}`);
      assert.ok(c.droppedWrongCluster >= 5, `droppedWrongCluster ${c.droppedWrongCluster}`);
      // Node 1 never answers the wrong-key node's pings, so it never sees a live link.
      assert.ok(wrongKey.t.linkStatus().filter((l) => l.node === 1).every((l) => !l.up));
      assert.ok(a.t.linkStatus().filter((l) => l.node === 3).every((l) => !l.up));
      // Reported once (rate limited), with the reason and the address.
      const macLines = a.log.lines.filter((l) => /HMAC-sha256 does not match/.test(l.msg));
      assert.ok(macLines.length >= 1 && macLines.length <= 4, `${macLines.length} bad-MAC log lines`);
      assert.match(macLines[0]!.msg, /from 127\.0\.[01]\.3:\d+: claims to be node3/);
      assert.ok(a.log.lines.some((l) => /node id 4 is not in the nodelist/.test(l.msg)));
    } finally {
      await Promise.all(nodes.map((n) => n.t.close()));
    }
  });

  test('raw datagrams: garbage, oversized, impersonation from another address, bad JSON, duplicates, misaddressed', async () => {
    const key = crypto.randomBytes(256);
    const { port, nodes } = await startGroup((p) => {
      const config = makeConfig({ port: p, nodes: [{ id: 1, host: 1 }, { id: 2, host: 2 }, { id: 3, host: 3 }], tokenMs: 10_000 });
      return [{ config, self: 1, key }];
    });
    const [a] = nodes as [Started];
    const pc = new PacketCrypto({ clusterName: 'lab', cipher: 'aes256', hash: 'sha256', key });
    // Node 2 is not running a transport: a raw socket on its link-0 address plays it.
    const raw = dgram.createSocket('udp4');
    const impostor = dgram.createSocket('udp4');
    await new Promise<void>((r) => raw.bind({ address: '127.0.0.2', port }, r));
    await new Promise<void>((r) => impostor.bind({ address: '127.0.0.9', port: 0 }, r));
    const sendFrom = (s: dgram.Socket, b: Buffer): Promise<void> => new Promise((r, j) => s.send(b, port, '127.0.0.1', (e) => (e ? j(e) : r())));
    const data = (seq: number, json: string, to = 1): Buffer =>
      pc.seal(2, encodeInner({ kind: 'data', link: 0, to, incarnation: 77, seq, json: Buffer.from(json) }));
    try {
      await sendFrom(raw, Buffer.from('not a cluster packet at all'));
      await sendFrom(raw, crypto.randomBytes(64_000));
      await sendFrom(impostor, data(1, '{"kind":"forged"}'));
      await sendFrom(raw, data(2, '{"kind":'));
      await sendFrom(raw, data(3, '[1,2]'));
      await sendFrom(raw, data(4, '{"kind":7}'));
      await sendFrom(raw, data(5, '{"kind":"x"}').subarray(0, 40)); // truncated
      const flipped = data(5, '{"kind":"x"}');
      flipped[30]! ^= 0x10; // inside the ciphertext
      await sendFrom(raw, flipped);
      await sendFrom(raw, data(6, '{"kind":"for-node-3"}', 3));
      await sendFrom(raw, data(7, '{"kind":"once","n":7}'));
      await sendFrom(raw, data(7, '{"kind":"once","n":7}'));
      await sendFrom(raw, data(8, '{"kind":"last"}'));
      await until('the last message', () => a.inbox.some((m) => m.message.kind === 'last'));
      assert.deepEqual(
        a.inbox.map((m) => [m.from, m.link, m.message]),
        [
          [2, 0, { kind: 'once', n: 7 }],
          [2, 0, { kind: 'last' }],
        ],
      );
      const c = a.t.counters();
      assert.deepEqual(
        {
          malformed: c.droppedMalformed,
          oversized: c.droppedOversized,
          unknownSender: c.droppedUnknownSender,
          badJson: c.droppedBadJson,
          badMac: c.droppedBadMac,
          misaddressed: c.droppedMisaddressed,
          duplicate: c.droppedDuplicate,
          received: c.messagesReceived,
        },
        { malformed: 2, oversized: 1, unknownSender: 1, badJson: 3, badMac: 1, misaddressed: 1, duplicate: 1, received: 2 },
      );
      assert.ok(a.log.lines.some((l) => /127\.0\.0\.9:\d+: claims to be node2 on link 0, whose address is 127\.0\.0\.2:/.test(l.msg)));
      assert.ok(a.log.lines.some((l) => /64000 bytes is over the \d+-byte packet limit/.test(l.msg)));
    } finally {
      raw.close();
      impostor.close();
      await a.t.close();
    }
  });

  test('send refuses a message over the limit, an unknown node, and non-JSON; a message just under the limit arrives whole', async () => {
    const key = crypto.randomBytes(256);
    const { nodes } = await startGroup((port) => threeNodes(port, key).slice(0, 2));
    const [a, b] = nodes as [Started, Started];
    try {
      const big = { kind: 'snapshot', data: 'x'.repeat(MESSAGE_BYTES_MAX) };
      assert.throws(
        () => a.t.send(2, big),
        (e: unknown) => e instanceof TransportError && e.code === 'ERR_CLUSTER_MESSAGE_TOO_LARGE' && /'snapshot' to node2 is 614\d\d bytes of JSON; .* at most 61440/.test(e.message),
      );
      assert.throws(() => a.t.send(9, { kind: 'x' }), /node id 9: not in the nodelist/);
      assert.throws(() => a.t.send(1, { kind: 'x' }), /that is this node/);
      assert.throws(() => a.t.send(2, { kind: 'x', n: 1n } as never), (e: unknown) => e instanceof TransportError && e.code === 'ERR_CLUSTER_MESSAGE_NOT_JSON');
      const fill = MESSAGE_BYTES_MAX - JSON.stringify({ kind: 'snapshot', data: '' }).length;
      const justUnder = { kind: 'snapshot', data: crypto.randomBytes(fill).toString('base64').slice(0, fill) };
      assert.equal(Buffer.byteLength(JSON.stringify(justUnder)), MESSAGE_BYTES_MAX);
      a.t.send(2, justUnder);
      await until('the large message', () => b.inbox.length === 1);
      assert.deepEqual(b.inbox[0]!.message, justUnder);
    } finally {
      await Promise.all(nodes.map((n) => n.t.close()));
    }
  });

  test('the arbiter (node 0) has one link: nodes reach it from their link 0 and it answers them', async () => {
    const key = crypto.randomBytes(256);
    const { nodes } = await startGroup((port) => {
      const config = makeConfig({ port, nodes: [{ id: 1, host: 1 }, { id: 2, host: 2 }], arbiter: { host: '127.0.0.100', port: port + 10 } });
      return [
        { config, self: 0, key },
        { config, self: 1, key },
        { config, self: 2, key },
      ];
    });
    const [arb, a, b] = nodes as [Started, Started, Started];
    try {
      await until('all links up', () => allLinksUp(nodes));
      assert.deepEqual(arb.t.localAddresses(), [{ link: 0, address: '127.0.0.100', port: arb.t.localAddresses()[0]!.port }]);
      assert.deepEqual(arb.t.linkStatus().map((l) => [l.node, l.link]), [[1, 0], [2, 0]]);
      assert.deepEqual(a.t.linkStatus().map((l) => [l.node, l.link]), [[0, 0], [2, 0], [2, 1]]);
      a.t.send(0, { kind: 'vote-request', term: 3 });
      await until('the arbiter got it', () => arb.inbox.length === 1);
      assert.deepEqual([arb.inbox[0]!.from, arb.inbox[0]!.link], [1, 0]);
      arb.t.send(2, { kind: 'vote', granted: false });
      await until('node 2 got the answer', () => b.inbox.length === 1);
      assert.equal(b.inbox[0]!.from, 0);
    } finally {
      await Promise.all(nodes.map((n) => n.t.close()));
    }
  });

  test('start fails with a clear error for an address not on this host, and close() releases the ports', async () => {
    const key = crypto.randomBytes(256);
    const config = makeConfig({ port: 41_000 + crypto.randomInt(0, 900) * 20, nodes: [{ id: 1, host: 1 }] });
    config.nodes[0]!.addresses = ['192.0.2.77'];
    const t = new ClusterTransport({ config, self: 1, key, log: memLog() });
    await assert.rejects(t.start(), /cannot bind link 0 of node1 to 192\.0\.2\.77:\d+: EADDRNOTAVAIL \(the address is not on any interface/);
    assert.throws(() => new ClusterTransport({ config, self: 5, key, log: memLog() }), /node id 5 is not in the nodelist \(known: node1=1\)/);
    assert.throws(() => new ClusterTransport({ config, self: 0, key, log: memLog() }), /no quorum device/);
    assert.throws(
      () => new ClusterTransport({ config: { ...config, crypto: { ...config.crypto, hash: 'none' } }, self: 1, key, log: memLog() }),
      /corosync\.conf: crypto_cipher aes256 needs a crypto_hash/,
    );
    // Ports are free again after close: the same group starts twice in a row.
    const { port, nodes } = await startGroup((p) => threeNodes(p, key).slice(0, 2));
    await Promise.all(nodes.map((n) => n.t.close()));
    const again = threeNodes(port, key).slice(0, 2).map((s) => new ClusterTransport({ ...s, log: memLog() }));
    for (const t2 of again) await t2.start();
    await Promise.all(again.map((t2) => t2.close()));
  });

  const isRoot = process.getuid?.() === 0;
  const haveTools = spawnSync('ip', ['-V']).status === 0 && spawnSync('iptables', ['--version']).status === 0;
  test(
    'link 0 cut by iptables in a network namespace: messages continue over link 1 within one token timeout, and return to link 0 when it heals',
    { skip: !isRoot ? 'needs root for a network namespace' : !haveTools ? 'needs ip and iptables' : false, timeout: 60_000 },
    async (t) => {
      const ns = `safeside-tt-${process.pid}`;
      const ip = (...args: string[]): void => {
        const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
        if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
      };
      ip('netns', 'add', ns);
      try {
        ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
        const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, fileURLToPath(import.meta.url)], {
          encoding: 'utf8',
          timeout: 45_000,
          env: { ...process.env, [CHILD_ENV]: '1' },
        });
        const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
        assert.ok(line, `child failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
        const res = JSON.parse(line.slice('RESULT '.length)) as FailoverResult;
        t.diagnostic(
          `token ${res.tokenMs} ms: first message over link 1 ${res.failoverMs.toFixed(0)} ms after the cut; link 0 declared down after ${res.link0DownMs.toFixed(0)} ms; back on link 0 ${res.failbackMs.toFixed(0)} ms after healing`,
        );
        t.diagnostic(`messages lost in the failover window: ${res.lostDuringCut} of ${res.sentDuringCut}; on link 1: ${res.viaLink1}`);
        console.log(
          `cluster transport failover: messages over link 1 after ${res.failoverMs.toFixed(0)} ms, link 0 down after ${res.link0DownMs.toFixed(0)} ms (token ${res.tokenMs} ms), failback ${res.failbackMs.toFixed(0)} ms`,
        );
        assert.equal(res.beforeCutLinks, '0', 'before the cut everything went over link 0');
        assert.ok(res.failoverMs > 0 && res.failoverMs < res.tokenMs, `failover ${res.failoverMs} ms must finish inside the ${res.tokenMs} ms token`);
        assert.equal(res.link0ArrivalsDuringCut, 0, 'the cut really stopped link 0');
        assert.ok(res.link0DownMs < res.tokenMs, `link 0 declared down after ${res.link0DownMs} ms, not inside the ${res.tokenMs} ms token`);
        // It was answering pings just before the cut, so it cannot be declared down sooner than the down timer.
        assert.ok(res.link0DownMs >= res.downAfterMs - res.pingIntervalMs, `link 0 declared down after only ${res.link0DownMs} ms`);
        assert.ok(res.viaLink1 >= 20, `only ${res.viaLink1} messages over link 1`);
        assert.equal(res.link0DownDuringCut, true);
        assert.equal(res.lostAfterFailover, 0, 'nothing lost once on link 1');
        assert.ok(res.failbackMs < 2000, `failback took ${res.failbackMs} ms`);
        assert.equal(res.afterHealLinks, '0', 'after healing everything goes over link 0 again');
      } finally {
        spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
      }
    },
  );
} else {
  void failoverChild().then(
    (res) => {
      process.stdout.write(`RESULT ${JSON.stringify(res)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}

interface FailoverResult {
  tokenMs: number;
  downAfterMs: number;
  pingIntervalMs: number;
  /** From the cut to the first message that arrived over link 1. */
  failoverMs: number;
  /** From the cut until link 0 was declared down. */
  link0DownMs: number;
  link0ArrivalsDuringCut: number;
  failbackMs: number;
  sentDuringCut: number;
  lostDuringCut: number;
  lostAfterFailover: number;
  viaLink1: number;
  link0DownDuringCut: boolean;
  beforeCutLinks: string;
  afterHealLinks: string;
}

/** Runs inside the namespace: two nodes, a steady stream of messages, link 0 cut and healed with iptables. */
async function failoverChild(): Promise<FailoverResult> {
  const tokenMs = 1000;
  const key = crypto.randomBytes(256);
  const config = makeConfig({ port: 5405, nodes: [{ id: 1, host: 1 }, { id: 2, host: 2 }], tokenMs });
  const rule = ['INPUT', '-i', 'lo', '-p', 'udp', '-s', '127.0.0.0/24', '-d', '127.0.0.0/24', '-j', 'DROP'];
  const iptables = (op: '-I' | '-D'): void => {
    const r = spawnSync('iptables', [op, ...rule], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`iptables ${op}: ${r.stderr}`);
  };
  const { nodes } = await startGroup(() => [
    { config, self: 1, key },
    { config, self: 2, key },
  ]);
  const [a, b] = nodes as [Started, Started];
  let timer: NodeJS.Timeout | null = null;
  let cut = false;
  try {
    await until('both links up', () => allLinksUp(nodes));
    const sentAt = new Map<number, number>();
    let n = 0;
    timer = setInterval(() => {
      n++;
      sentAt.set(n, performance.now());
      a.t.send(2, { kind: 'probe', n });
    }, 10);
    await sleep(500);
    const beforeCut = new Set(b.inbox.map((m) => m.link));
    const tCut = performance.now();
    const nAtCut = n;
    iptables('-I');
    cut = true;
    let link0DownAt: number | null = null;
    const watch = setInterval(() => {
      if (link0DownAt === null && a.t.linkStatus().find((l) => l.node === 2 && l.link === 0)?.up === false) link0DownAt = performance.now();
    }, 2);
    try {
      await until('a message over link 1', () => b.inbox.some((m) => m.link === 1), 5000);
      await until('link 0 declared down', () => link0DownAt !== null, 5000);
    } finally {
      clearInterval(watch);
    }
    const first1 = b.inbox.find((m) => m.link === 1)!;
    const nAtFailover = Number(first1.message['n']);
    await sleep(1000);
    const link0DownDuringCut = a.t.linkStatus().find((l) => l.node === 2 && l.link === 0)?.up === false;
    const tHeal = performance.now();
    const nAtHeal = n;
    iptables('-D');
    cut = false;
    await until('a message over link 0 again', () => b.inbox.some((m) => m.link === 0 && m.at > tHeal), 5000);
    const back0 = b.inbox.find((m) => m.link === 0 && m.at > tHeal)!;
    await sleep(300);
    clearInterval(timer);
    timer = null;
    const nBack = Number(back0.message['n']);
    await sleep(100);
    const got = new Set(b.inbox.map((m) => Number(m.message['n'])));
    const range = (lo: number, hi: number): number[] => Array.from({ length: Math.max(0, hi - lo + 1) }, (_, i) => lo + i);
    const afterHeal = b.inbox.filter((m) => Number(m.message['n']) > nBack + 5);
    return {
      tokenMs,
      downAfterMs: tokenMs / 2,
      pingIntervalMs: tokenMs / 8,
      failoverMs: first1.at - tCut,
      link0DownMs: link0DownAt! - tCut,
      link0ArrivalsDuringCut: b.inbox.filter((m) => m.link === 0 && m.at > tCut + 50 && m.at < tHeal).length,
      failbackMs: back0.at - tHeal,
      sentDuringCut: nAtFailover - nAtCut,
      lostDuringCut: range(nAtCut + 1, nAtFailover).filter((i) => !got.has(i)).length,
      // Once on link 1 and until the heal, every message must arrive.
      lostAfterFailover: range(nAtFailover, nAtHeal).filter((i) => !got.has(i)).length,
      viaLink1: b.inbox.filter((m) => m.link === 1).length,
      link0DownDuringCut,
      beforeCutLinks: [...beforeCut].sort().join(','),
      afterHealLinks: [...new Set(afterHeal.map((m) => m.link))].sort().join(','),
    };
  } finally {
    if (timer) clearInterval(timer);
    if (cut) iptables('-D');
    await Promise.all(nodes.map((x) => x.t.close()));
  }
}
