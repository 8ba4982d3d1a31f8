// PeerLink between real sockets on loopback (127.0.0.1 <-> 127.0.0.2): handshake, HMAC auth,
// ordered delivery, crossing connections, reconnect, operator disconnect, TLS, refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { PeerConfigError, PeerLink, type PeerConnectedInfo, type PeerLinkOptions } from '../../src/runtime/peer/link.js';
import { memLogger } from '../helpers/peer.js';


async function probePort(host: string): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen({ host, port: 0 }, () => resolve());
  });
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

type Extra = Partial<Omit<PeerLinkOptions, 'resource' | 'self' | 'peers'>>;

interface Recorder {
  events: string[];
  connected: PeerConnectedInfo[];
  refused: string[];
  disconnected: string[];
  messages: number;
}
function record(link: PeerLink): Recorder {
  const r: Recorder = { events: [], connected: [], refused: [], disconnected: [], messages: 0 };
  link.on('connected', (_id, info) => {
    r.events.push('connected');
    r.connected.push(info);
  });
  link.on('disconnected', (_id, reason) => {
    r.events.push('disconnected');
    r.disconnected.push(reason);
  });
  link.on('refused', (_id, reason) => {
    r.events.push('refused');
    r.refused.push(reason);
  });
  link.on('message', () => r.messages++);
  return r;
}

interface Pair {
  a: PeerLink;
  b: PeerLink;
  ra: Recorder;
  rb: Recorder;
  la: ReturnType<typeof memLogger>;
  lb: ReturnType<typeof memLogger>;
  portA: number;
  portB: number;
  optsB: PeerLinkOptions;
  stop(): Promise<void>;
}

const BASE: Extra = { connectIntervalMs: 400, connectBackoffMinMs: 50, handshakeTimeoutMs: 2000 };

function nodes(portA: number, portB: number) {
  return {
    alice: { nodeId: 1, name: 'alice', address: { host: '127.0.0.1', port: portA } },
    bob: { nodeId: 2, name: 'bob', address: { host: '127.0.0.2', port: portB } },
  };
}

/** Two links; ports are probed and the whole pair retried on EADDRINUSE. */
async function startPair(extraA: Extra = {}, extraB: Extra = {}, o: { startB?: boolean } = {}): Promise<Pair> {
  for (let attempt = 0; ; attempt++) {
    const portA = await probePort('127.0.0.1');
    const portB = await probePort('127.0.0.2');
    const { alice, bob } = nodes(portA, portB);
    const la = memLogger();
    const lb = memLogger();
    const optsA: PeerLinkOptions = { resource: 'r0', self: alice, peers: [bob], logger: la, ...BASE, ...extraA };
    const optsB: PeerLinkOptions = { resource: 'r0', self: bob, peers: [alice], logger: lb, ...BASE, ...extraB };
    const a = new PeerLink(optsA);
    const b = new PeerLink(optsB);
    const ra = record(a);
    const rb = record(b);
    try {
      await Promise.all([a.start(), o.startB === false ? Promise.resolve() : b.start()]);
    } catch (err) {
      await Promise.all([a.stop(), b.stop()]);
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 5) continue;
      throw err;
    }
    return { a, b, ra, rb, la, lb, portA, portB, optsB, stop: async () => void (await Promise.all([a.stop(), b.stop()])) };
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const AUTH = { alg: 'sha256', secret: 'correct horse battery' };

test('authenticated pair exchanges 10k messages with payloads in order, both directions, with backpressure', async () => {
  const p = await startPair({ auth: AUTH, pingIntervalMs: 100, pingTimeoutMs: 300 }, { auth: AUTH, pingIntervalMs: 100, pingTimeoutMs: 300 });
  try {
    await until('both connected', () => p.ra.connected.length === 1 && p.rb.connected.length === 1);
    for (const info of [p.ra.connected[0]!, p.rb.connected[0]!]) {
      assert.equal(info.agreedVersion, 1);
      assert.equal(info.authenticated, true);
      assert.equal(info.tls, false);
    }
    assert.ok(p.la.lines.some((l) => l.msg === `r0: peer bob (127.0.0.2:${p.portB}): Peer authenticated using 32 bytes HMAC`));

    const N = 10_000;
    const payloadOf = (i: number) => (i % 7 === 0 ? null : Buffer.alloc((i * 131) % 4096 + 1, i & 0xff));
    const received: Record<string, number> = { a: 0, b: 0 };
    const errors: string[] = [];
    const check = (who: 'a' | 'b') => (from: number, header: Record<string, unknown>, received_: Buffer | readonly Buffer[] | null) => {
      const i = received[who]!;
      // Large payloads arrive as the received chunks.
      const payload = received_ === null || Buffer.isBuffer(received_) ? received_ : Buffer.concat(received_ as Buffer[]);
      if (header.type !== 'data' || header.seq !== i || header.big !== BigInt(i) * 0x1_0000_0000n) errors.push(`${who}: bad header at ${i}: ${String(header.seq)}`);
      const want = payloadOf(i);
      if (!(want === null ? payload === null : payload !== null && payload.equals(want))) errors.push(`${who}: bad payload at ${i}`);
      if (from !== (who === 'a' ? 2 : 1)) errors.push(`${who}: wrong sender ${from}`);
      received[who] = i + 1;
    };
    p.a.on('message', check('a'));
    p.b.on('message', check('b'));
    let drains = 0;
    p.a.on('drain', () => drains++);

    async function pump(from: PeerLink, to: number): Promise<void> {
      for (let i = 0; i < N; i++) {
        assert.equal(from.send(to, { type: 'data', seq: i, big: BigInt(i) * 0x1_0000_0000n }, payloadOf(i)), true);
        if (from.bufferedBytes(to) > 1 << 20) await new Promise<void>((r) => from.once('drain', () => r()));
      }
    }
    await Promise.all([pump(p.a, 2), pump(p.b, 1)]);
    await until('all delivered', () => received.a === N && received.b === N, 15_000);
    assert.deepEqual(errors, []);
    assert.ok(drains > 0, 'drain was signalled');
    // idle for several ping intervals: pings are answered, nobody times out
    await sleep(500);
    assert.deepEqual(p.ra.events, ['connected']);
    assert.deepEqual(p.rb.events, ['connected']);
    const s = p.a.stats();
    assert.equal(s.peers[2]!.connected, true);
    assert.ok(s.peers[2]!.framesIn >= N && s.peers[2]!.framesOut >= N);
    assert.ok(s.peers[2]!.bytesIn > 10_000_000 && s.peers[2]!.bytesOut > 10_000_000);
    assert.equal(s.peers[2]!.authFailures, 0);
    assert.equal(s.peers[2]!.pingTimeouts, 0);
  } finally {
    await p.stop();
  }
});

test('wrong shared-secret: both sides refuse, emit refused, never connect or deliver', async () => {
  const p = await startPair({ auth: AUTH }, { auth: { alg: 'sha256', secret: 'wrong' } });
  try {
    p.a.on('connected', () => p.a.send(2, { type: 'x' }));
    p.b.on('connected', () => p.b.send(1, { type: 'x' }));
    await until('refusals on both sides', () => p.ra.refused.length >= 1 && p.rb.refused.length >= 1);
    await sleep(300);
    assert.equal(p.ra.connected.length + p.rb.connected.length, 0);
    assert.equal(p.ra.messages + p.rb.messages, 0);
    assert.ok(p.ra.refused.includes('Authentication of peer failed (wrong shared-secret?)'), String(p.ra.refused));
    assert.ok(p.rb.refused.includes('Authentication of peer failed (wrong shared-secret?)'), String(p.rb.refused));
    assert.ok(p.la.lines.some((l) => l.level === 'warn' && l.msg === `r0: peer bob (127.0.0.2:${p.portB}): Authentication of peer failed (wrong shared-secret?)`));
    assert.ok(p.a.stats().peers[2]!.authFailures >= 1);
  } finally {
    await p.stop();
  }
});

test('auth configured on one side only: both refuse with a clear reason', async () => {
  const p = await startPair({ auth: AUTH }, { auth: null });
  try {
    await until('refusals', () => p.ra.refused.length >= 1 && p.rb.refused.length >= 1);
    assert.ok(p.ra.refused.includes('peer does not authenticate but cram-hmac-alg is configured'), String(p.ra.refused));
    assert.ok(p.rb.refused.some((r) => r.includes('peer authenticates (cram-hmac-alg sha256) but no cram-hmac-alg is configured here')), String(p.rb.refused));
    assert.equal(p.ra.connected.length + p.rb.connected.length, 0);
  } finally {
    await p.stop();
  }
});

test('incompatible dialects are refused with both ranges named', async () => {
  const p = await startPair({}, { protocolMin: 2, protocolMax: 3 });
  try {
    await until('refusals', () => p.ra.refused.length >= 1 && p.rb.refused.length >= 1);
    assert.ok(p.ra.refused.includes('incompatible dialects: I support 1-1, peer supports 2-3'), String(p.ra.refused));
    assert.ok(p.rb.refused.includes('incompatible dialects: I support 2-3, peer supports 1-1'), String(p.rb.refused));
  } finally {
    await p.stop();
  }
});

test('crossing connections: exactly one survives, the same one on both sides, reported once', async () => {
  for (let round = 0; round < 5; round++) {
    const p = await startPair({ auth: round % 2 ? AUTH : null }, { auth: round % 2 ? AUTH : null });
    try {
      await until('both connected', () => p.ra.connected.length >= 1 && p.rb.connected.length >= 1);
      await sleep(200);
      assert.deepEqual(p.ra.events, ['connected']);
      assert.deepEqual(p.rb.events, ['connected']);
      const ia = p.ra.connected[0]!;
      const ib = p.rb.connected[0]!;
      assert.deepEqual(ia.local, ib.remote);
      assert.deepEqual(ia.remote, ib.local);
      assert.notEqual(ia.initiator, ib.initiator);
      assert.equal(p.a.stats().peers[2]!.connectionsEstablished, 1);
      assert.equal(p.b.stats().peers[1]!.connectionsEstablished, 1);
      assert.equal(p.a.send(2, { type: 'hello' }), true);
      await until('message over the survivor', () => p.rb.messages === 1);
    } finally {
      await p.stop();
    }
  }
});

test('a stopped peer is reported disconnected; when it comes back the link reconnects', async () => {
  const p = await startPair({ auth: AUTH }, { auth: AUTH });
  let b2: PeerLink | null = null;
  try {
    await until('connected', () => p.ra.connected.length === 1);
    await p.b.stop();
    await until('disconnected', () => p.ra.disconnected.length === 1);
    assert.match(p.ra.disconnected[0]!, /peer is shutting down/);
    assert.equal(p.a.send(2, { type: 'x' }), false, 'send while disconnected is refused');
    await sleep(300); // a few failed attempts with back-off
    b2 = new PeerLink(p.optsB);
    const rb2 = record(b2);
    await b2.start();
    await until('reconnected', () => p.ra.connected.length === 2 && rb2.connected.length === 1);
    assert.deepEqual(p.ra.events, ['connected', 'disconnected', 'connected']);
    assert.equal(p.a.stats().peers[2]!.reconnects, 1);
    assert.equal(p.a.send(2, { type: 'again', n: 5n }), true);
    const got = await new Promise<Record<string, unknown>>((r) => b2!.once('message', (_id, h) => r(h)));
    assert.deepEqual(got, { type: 'again', n: 5n });
  } finally {
    await Promise.all([p.stop(), b2?.stop()]);
  }
});

test('operator disconnect stops reconnecting (both directions) until connect()', async () => {
  const p = await startPair({}, {});
  try {
    await until('connected', () => p.ra.connected.length === 1 && p.rb.connected.length === 1);
    p.a.disconnect(2, 'operator said so');
    assert.deepEqual(p.ra.disconnected, ['operator said so']);
    await until('peer sees disconnect', () => p.rb.disconnected.length === 1);
    assert.match(p.rb.disconnected[0]!, /operator said so/);
    await sleep(1000); // bob keeps trying; alice refuses (StandAlone)
    assert.equal(p.ra.connected.length, 1);
    assert.equal(p.rb.connected.length, 1);
    assert.deepEqual(p.rb.refused, [], 'StandAlone is not an auth/config refusal');
    assert.equal(p.a.isConnected(2), false);
    p.a.connect(2);
    await until('reconnected', () => p.ra.connected.length === 2 && p.rb.connected.length === 2);
    assert.deepEqual(p.ra.events, ['connected', 'disconnected', 'connected']);
    assert.deepEqual(p.rb.events, ['connected', 'disconnected', 'connected']);
  } finally {
    await p.stop();
  }
});

test('only one side up: it keeps retrying with back-off and connects when the other starts', async () => {
  const p = await startPair({ connectBackoffMinMs: 20, connectIntervalMs: 200 }, {}, { startB: false });
  try {
    await sleep(400);
    const attempts = p.a.stats().peers[2]!.connectAttempts;
    assert.ok(attempts >= 3 && attempts <= 10, `attempts ${attempts}`);
    await p.b.start();
    await until('connected', () => p.ra.connected.length === 1 && p.rb.connected.length === 1);
  } finally {
    await p.stop();
  }
});

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('TLS with mutual certificates; a certificate outside the CA list is refused', { skip: haveOpenssl() ? false : 'openssl not installed' }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'peer-tls-'));
  try {
    const mk = (name: string) => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${dir}/${name}.key`, '-out', `${dir}/${name}.crt`, '-days', '2', '-subj', `/CN=${name}`], { stdio: 'ignore' });
      return { key: readFileSync(`${dir}/${name}.key`), cert: readFileSync(`${dir}/${name}.crt`) };
    };
    const alice = mk('alice');
    const bob = mk('bob');
    const mallory = mk('mallory');
    const ca = [alice.cert, bob.cert];
    const p = await startPair({ auth: AUTH, tls: { ...alice, ca } }, { auth: AUTH, tls: { ...bob, ca } });
    try {
      await until('connected over TLS', () => p.ra.connected.length === 1 && p.rb.connected.length === 1);
      assert.equal(p.ra.connected[0]!.tls, true);
      assert.equal(p.rb.connected[0]!.authenticated, true);
      p.b.send(1, { type: 'secret', v: 1n });
      await until('message', () => p.ra.messages === 1);
    } finally {
      await p.stop();
    }
    const q = await startPair({ tls: { ...alice, ca } }, { tls: { ...mallory, ca: [alice.cert, mallory.cert] } });
    try {
      await until('refused', () => q.ra.refused.length >= 1 || q.la.lines.some((l) => l.level === 'warn' && /certificate/.test(l.msg)));
      await sleep(200);
      assert.equal(q.ra.connected.length + q.rb.connected.length, 0);
    } finally {
      await q.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('configuration errors are refused at construction with clear messages', () => {
  const { alice, bob } = nodes(7789, 7789);
  const base = { resource: 'r0', self: alice, peers: [bob] };
  const code = (o: Partial<PeerLinkOptions>, c: string, re: RegExp) =>
    assert.throws(() => new PeerLink({ ...base, ...o }), (e: unknown) => e instanceof PeerConfigError && e.code === c && re.test(e.message));
  code({ auth: { alg: 'crc32c', secret: 'x' } }, 'ERR_PEER_AUTH_ALG', /crc32c is a checksum, not a keyed hash/);
  code({ auth: { alg: 'whirlpool9', secret: 'x' } }, 'ERR_PEER_AUTH_ALG', /unsupported cram-hmac-alg/);
  code({ auth: { alg: 'sha1', secret: 'x'.repeat(65) } }, 'ERR_PEER_SECRET', /at most 64/);
  code({ auth: { alg: 'sha1', secret: '' } }, 'ERR_PEER_SECRET', /empty/);
  code({ peers: [bob, bob] }, 'ERR_PEER_CONFIG', /configured twice/);
  code({ peers: [{ ...bob, nodeId: 1 }] }, 'ERR_PEER_CONFIG', /own node-id/);
  code({ peers: [{ ...bob, address: { host: 'bob.example', port: 1 } }] }, 'ERR_PEER_CONFIG', /IP literal/);
  code({ pingTimeoutMs: 0 }, 'ERR_PEER_CONFIG', /pingTimeoutMs/);
  for (const alg of ['md5', 'sha1', 'sha256', 'sha512']) new PeerLink({ ...base, auth: { alg, secret: 's' } });
});
