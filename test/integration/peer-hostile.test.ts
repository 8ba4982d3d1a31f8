// PeerLink against hand-driven raw sockets: reflected challenge, a peer that goes silent after
// the handshake (ping timeout), and hostile/broken inputs that must never crash the link.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameDecoder, FrameKind, encodeFrame, type Frame, type FrameHeader } from '../../src/runtime/peer/frame.js';
import { PeerLink } from '../../src/runtime/peer/link.js';
import { memLogger } from '../helpers/peer.js';


/** A hand-driven peer: raw frames in and out over one TCP connection. */
class RawPeer {
  readonly frames: Frame[] = [];
  private readonly dec = new FrameDecoder({ payloadBytesMax: 1 << 24 });
  private wake: (() => void) | null = null;
  ended = false;
  decodeError: string | null = null;
  readonly closed: Promise<void>;

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (c: Buffer) => {
      try {
        for (const f of this.dec.feed(c)) this.frames.push(f);
      } catch (err) {
        this.decodeError = String(err);
      }
      this.wake?.();
    });
    sock.on('error', () => {});
    this.closed = new Promise((r) =>
      sock.on('close', () => {
        this.ended = true;
        this.wake?.();
        r();
      }),
    );
  }

  static async connect(port: number, localAddress: string): Promise<RawPeer> {
    const sock = net.connect({ host: '127.0.0.1', port, localAddress });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    return new RawPeer(sock);
  }

  send(kind: FrameKind, header: FrameHeader, payload: Buffer | null = null): void {
    for (const b of encodeFrame(kind, header, payload)) this.sock.write(b);
  }

  async next(timeoutMs = 2000): Promise<Frame> {
    const end = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.ended) throw new Error('connection closed while waiting for a frame');
      if (Date.now() > end) throw new Error('timed out waiting for a frame');
      await Promise.race([new Promise<void>((r) => (this.wake = r)), sleep(50)]);
    }
    return this.frames.shift()!;
  }

  async waitClosed(timeoutMs = 2000): Promise<boolean> {
    const t = sleep(timeoutMs).then(() => false);
    return Promise.race([this.closed.then(() => true), t]);
  }

  destroy(): void {
    this.sock.destroy();
  }
}

const SECRET = 'hostile-test-secret';
let link: PeerLink;
let log: ReturnType<typeof memLogger>;
let port: number;
const events: string[] = [];
const refused: string[] = [];
const disconnects: string[] = [];
let messages = 0;

function hello(o: Partial<FrameHeader> = {}): FrameHeader {
  return { step: 'hello', resource: 'r0', nodeId: 2, to: 1, protocolMin: 1, protocolMax: 1, features: [], auth: 'sha256', ...o };
}

function hmac(challenge: Buffer, nodeId: number): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(nodeId);
  return crypto.createHmac('sha256', SECRET).update(challenge).update(id).digest();
}

/** Play bob (node 2, the higher id) through the full handshake up to `commit`. */
async function handshakeAsBob(p: RawPeer): Promise<void> {
  p.send(FrameKind.handshake, hello());
  const h = await p.next();
  assert.equal(h.kind, FrameKind.handshake);
  assert.equal(h.header.nodeId, 1);
  const ch = await p.next();
  assert.equal(ch.kind, FrameKind.authChallenge);
  const mine = crypto.randomBytes(64);
  p.send(FrameKind.authChallenge, {}, mine);
  p.send(FrameKind.authResponse, {}, hmac(ch.payload as Buffer, 2));
  const resp = await p.next();
  assert.equal(resp.kind, FrameKind.authResponse);
  assert.ok((resp.payload as Buffer).equals(hmac(mine, 1)), 'link answered my challenge correctly');
  p.send(FrameKind.handshake, { step: 'ready' });
  const commit = await p.next();
  assert.deepEqual([commit.kind, commit.header], [FrameKind.handshake, { step: 'commit' }]);
}

before(async () => {
  for (let attempt = 0; ; attempt++) {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    log = memLogger();
    link = new PeerLink({
      resource: 'r0',
      self: { nodeId: 1, name: 'alice', address: { host: '127.0.0.1', port } },
      // bob's own listener is never up: the link's dials fail, only raw peers connect to it
      peers: [
        { nodeId: 2, name: 'bob', address: { host: '127.0.0.2', port: 9 } },
        { nodeId: 3, name: 'carol', address: { host: '127.0.0.3', port: 9 } },
      ],
      auth: { alg: 'sha256', secret: SECRET },
      connectIntervalMs: 300,
      handshakeTimeoutMs: 400,
      pingIntervalMs: 150,
      pingTimeoutMs: 150,
      frameLimits: { payloadBytesMax: 64 * 1024 },
      logger: log,
    });
    try {
      await link.start();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt > 5) throw err;
    }
  }
  link.on('connected', () => events.push('connected'));
  link.on('disconnected', (_id, r) => {
    events.push('disconnected');
    disconnects.push(r);
  });
  link.on('refused', (_id, r) => refused.push(r));
  link.on('message', () => messages++);
});

after(async () => {
  await link.stop();
});

async function until(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A well-behaved bob still gets through (the link survived whatever came before). */
async function assertStillServes(): Promise<void> {
  const before = events.length;
  const p = await RawPeer.connect(port, '127.0.0.2');
  try {
    await handshakeAsBob(p);
    await until('connected', () => events.length === before + 1);
    p.send(FrameKind.message, { type: 'probe' });
    const m = messages;
    await until('message delivered', () => messages === m + 1);
  } finally {
    p.destroy();
    await until('disconnected', () => events.length === before + 2);
  }
}

test('a peer echoing my challenge back is refused: "Peer presented the same challenge!"', async () => {
  const p = await RawPeer.connect(port, '127.0.0.2');
  try {
    p.send(FrameKind.handshake, hello());
    await p.next(); // hello
    const ch = await p.next();
    assert.equal(ch.kind, FrameKind.authChallenge);
    p.send(FrameKind.authChallenge, {}, ch.payload as Buffer);
    const close = await p.next();
    assert.equal(close.kind, FrameKind.close);
    assert.equal(close.header.code, 'auth-failed');
    assert.ok(await p.waitClosed());
    assert.ok(refused.includes('Peer presented the same challenge!'));
    assert.ok(log.lines.some((l) => l.level === 'warn' && l.msg === 'r0: peer bob (127.0.0.2:9): Peer presented the same challenge!'));
    assert.equal(p.frames.filter((f) => f.kind === FrameKind.authResponse).length, 0, 'no response was given to the reflected challenge');
  } finally {
    p.destroy();
  }
  assert.equal(messages, 0);
});

test('a wrong HMAC response is refused; messages sent before commit are a protocol error', async () => {
  const p = await RawPeer.connect(port, '127.0.0.2');
  try {
    p.send(FrameKind.handshake, hello());
    await p.next();
    await p.next();
    p.send(FrameKind.authChallenge, {}, crypto.randomBytes(64));
    p.send(FrameKind.authResponse, {}, crypto.randomBytes(32));
    assert.ok(await p.waitClosed());
    assert.ok(refused.includes('Authentication of peer failed (wrong shared-secret?)'));
  } finally {
    p.destroy();
  }
  const errorsBefore = link.stats().peers[2]!.protocolErrors;
  const q = await RawPeer.connect(port, '127.0.0.2');
  try {
    q.send(FrameKind.handshake, hello());
    q.send(FrameKind.message, { type: 'sneaky' }, Buffer.from('data'));
    assert.ok(await q.waitClosed());
  } finally {
    q.destroy();
  }
  assert.equal(messages, 0);
  assert.equal(link.stats().peers[2]!.protocolErrors, errorsBefore + 1);
  assert.deepEqual(events, []);
});

test('a peer that completes the handshake and then goes silent is detected by ping timeout', async () => {
  const p = await RawPeer.connect(port, '127.0.0.2');
  try {
    await handshakeAsBob(p);
    await until('connected', () => events.length === 1);
    const t0 = Date.now();
    await until('ping timeout', () => events.length === 2, 2000);
    assert.deepEqual(events, ['connected', 'disconnected']);
    assert.equal(disconnects[0], 'ping timeout');
    assert.ok(Date.now() - t0 < 1000);
    assert.ok(p.frames.some((f) => f.kind === FrameKind.ping), 'a ping was sent');
    assert.equal(link.stats().peers[2]!.pingTimeouts, 1);
  } finally {
    p.destroy();
  }
  events.length = 0;
});

test('hostile and broken inputs never crash the link; each connection is dropped and warned about once', async () => {
  const cases: { name: string; from: string; run: (p: RawPeer) => void | Promise<void> }[] = [
    { name: 'garbage', from: '127.0.0.2', run: (p) => void p.sock.write(crypto.randomBytes(300)) },
    { name: 'http', from: '127.0.0.2', run: (p) => void p.sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n') },
    { name: 'unknown address', from: '127.0.0.4', run: (p) => p.send(FrameKind.handshake, hello()) },
    { name: 'carol claiming to be bob', from: '127.0.0.3', run: (p) => p.send(FrameKind.handshake, hello()) },
    { name: 'unknown node id', from: '127.0.0.2', run: (p) => p.send(FrameKind.handshake, hello({ nodeId: 7 })) },
    { name: 'own node id', from: '127.0.0.2', run: (p) => p.send(FrameKind.handshake, hello({ nodeId: 1 })) },
    { name: 'other resource', from: '127.0.0.2', run: (p) => p.send(FrameKind.handshake, hello({ resource: 'r9' })) },
    { name: 'wrong target', from: '127.0.0.2', run: (p) => p.send(FrameKind.handshake, hello({ to: 3 })) },
    { name: 'malformed hello', from: '127.0.0.2', run: (p) => p.send(FrameKind.handshake, { step: 'hello', nodeId: 'two' }) },
    { name: 'oversize header', from: '127.0.0.2', run: (p) => void p.sock.write(rawHeader(FrameKind.handshake, 1 << 20, 0)) },
    { name: 'oversize handshake payload', from: '127.0.0.2', run: (p) => void p.sock.write(rawHeader(FrameKind.authChallenge, 2, 1 << 20)) },
    { name: 'bad JSON', from: '127.0.0.2', run: (p) => void p.sock.write(Buffer.concat([rawHeader(FrameKind.handshake, 5, 0), Buffer.from('{"a":')])) },
    { name: 'bad version', from: '127.0.0.2', run: (p) => void p.sock.write(rawHeader(FrameKind.handshake, 2, 0, 9)) },
    { name: 'ping before handshake', from: '127.0.0.2', run: (p) => p.send(FrameKind.ping, {}) },
    { name: 'commit from the higher id', from: '127.0.0.2', run: async (p) => {
      p.send(FrameKind.handshake, hello());
      p.send(FrameKind.handshake, { step: 'commit' });
    } },
    { name: 'short challenge', from: '127.0.0.2', run: async (p) => {
      p.send(FrameKind.handshake, hello());
      p.send(FrameKind.authChallenge, {}, Buffer.alloc(8));
    } },
    { name: 'partial frame then abrupt close', from: '127.0.0.2', run: (p) => {
      p.sock.write(encodeFrame(FrameKind.handshake, hello())[0]!.subarray(0, 20));
      setTimeout(() => p.sock.resetAndDestroy(), 20);
    } },
    { name: 'slowloris: says nothing', from: '127.0.0.2', run: () => {} },
    { name: 'slowloris: one byte at a time', from: '127.0.0.2', run: (p) => {
      const bytes = encodeFrame(FrameKind.handshake, hello())[0]!;
      let i = 0;
      const t = setInterval(() => (i < bytes.length && !p.sock.destroyed ? p.sock.write(bytes.subarray(i, ++i)) : clearInterval(t)), 100);
      p.closed.then(() => clearInterval(t));
    } },
  ];
  const warnsBefore = log.lines.filter((l) => l.level === 'warn').length;
  for (const c of cases) {
    const p = await RawPeer.connect(port, c.from);
    try {
      await c.run(p);
      assert.ok(await p.waitClosed(1500), `${c.name}: link closed the connection`);
      const kinds = p.frames.map((f) => f.kind);
      if (c.from !== '127.0.0.2') {
        assert.ok(kinds.every((k) => k === FrameKind.close), `${c.name}: a stranger gets nothing but an error frame (${kinds})`);
      }
    } finally {
      p.destroy();
    }
  }
  const warns = log.lines.filter((l) => l.level === 'warn').length - warnsBefore;
  assert.ok(warns <= cases.length, `at most one warning per connection (${warns} for ${cases.length})`);
  assert.ok(log.lines.some((l) => /connection from 127\.0\.0\.3:\d+ refused: it claims to be node-id 2 \(bob\), whose address is 127\.0\.0\.2/.test(l.msg)));
  assert.ok(log.lines.some((l) => /connection from 127\.0\.0\.4:\d+ refused: not the address of any peer/.test(l.msg)));
  assert.ok(log.lines.some((l) => /handshake timed out after 400 ms/.test(l.msg)));
  const s = link.stats();
  assert.ok(s.unattributed.connectionsRefused + s.unattributed.protocolErrors >= 8, JSON.stringify(s.unattributed));
  assert.equal(messages, 0);
  assert.deepEqual(events, []);
  await assertStillServes();
});

test('after the handshake: oversize and malformed frames drop the connection (reported), the link serves on', async () => {
  const bad: ((p: RawPeer) => void)[] = [
    (p) => void p.sock.write(rawHeader(FrameKind.message, 10, 1 << 20)), // over frameLimits.payloadBytesMax
    (p) => p.send(FrameKind.handshake, hello()), // handshake frame when connected
    (p) => void p.sock.write(crypto.randomBytes(100)),
  ];
  for (const run of bad) {
    events.length = 0;
    disconnects.length = 0;
    const p = await RawPeer.connect(port, '127.0.0.2');
    try {
      await handshakeAsBob(p);
      await until('connected', () => events.length === 1);
      p.send(FrameKind.message, { type: 'ok', n: 1n }, Buffer.from('x'));
      run(p);
      assert.ok(await p.waitClosed(1500));
      await until('disconnected', () => events.length === 2);
      assert.match(disconnects[0]!, /^protocol error: /);
    } finally {
      p.destroy();
    }
  }
  events.length = 0;
  await assertStillServes();
});

function rawHeader(kind: number, jsonBytes: number, payloadBytes: number, version = 1): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32BE(0x5afe51de, 0);
  h.writeUInt16BE(version, 4);
  h.writeUInt16BE(kind, 6);
  h.writeUInt32BE(jsonBytes, 8);
  h.writeUInt32BE(payloadBytes, 12);
  return h;
}
