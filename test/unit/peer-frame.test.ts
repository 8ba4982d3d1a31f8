// Peer link frame codec: round trips (bigint, '$' keys, __proto__), random chunking, limits,
// and random/mutated bytes that must only ever produce PeerProtocolError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  FrameDecoder,
  FrameKind,
  PeerProtocolError,
  decodeHeaderJson,
  encodeFrame,
  encodeHeaderJson,
  type Frame,
} from '../../src/runtime/peer/frame.js';
import { BufferPool } from '../../src/runtime/buffer-pool.js';

function concat(bufs: Buffer[]): Buffer {
  return Buffer.concat(bufs);
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

function decodeChunks(chunks: Buffer[], dec = new FrameDecoder()): Frame[] {
  const out: Frame[] = [];
  for (const c of chunks) out.push(...dec.feed(c));
  return out;
}

function rawFrame(o: { magic?: number; version?: number; kind?: number; json?: Buffer; jsonBytes?: number; payloadBytes?: number; payload?: Buffer }): Buffer {
  const json = o.json ?? Buffer.from('{}');
  const payload = o.payload ?? Buffer.alloc(0);
  const h = Buffer.alloc(FRAME_HEADER_BYTES);
  h.writeUInt32BE(o.magic ?? FRAME_MAGIC, 0);
  h.writeUInt16BE(o.version ?? 1, 4);
  h.writeUInt16BE(o.kind ?? FrameKind.handshake, 6);
  h.writeUInt32BE(o.jsonBytes ?? json.length, 8);
  h.writeUInt32BE(o.payloadBytes ?? payload.length, 12);
  return Buffer.concat([h, json, payload]);
}

function expectCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => err instanceof PeerProtocolError && err.code === code);
}

test('a message with bigint, nested values and a payload round-trips; the payload is not copied by the encoder', () => {
  const payload = Buffer.from('block data');
  const header = { type: 'data', sector: 123456789012345678n, neg: -5n, max: (1n << 64n) - 1n, nested: { a: [1n, 'x', null, true, 2.5] } };
  const bufs = encodeFrame(FrameKind.message, header, payload);
  assert.equal(bufs.length, 2);
  assert.equal(bufs[1], payload, 'payload buffer passed through as is');
  const frames = new FrameDecoder().feed(concat(bufs));
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.kind, FrameKind.message);
  assert.deepEqual(frames[0]!.header, header);
  assert.deepEqual(frames[0]!.payload, payload);
});

test('tagged-looking user keys, "$"-keys and __proto__ survive exactly', () => {
  const header: Record<string, unknown> = { type: 't', $u64: 'ff', $$x: 1, nested: { $i64: '-1' }, only: { $u64: 5n } };
  Object.defineProperty(header, '__proto__', { value: { polluted: true }, enumerable: true, configurable: true, writable: true });
  const out = decodeHeaderJson(encodeHeaderJson(header));
  assert.deepEqual(out, header);
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('an empty payload decodes as null; frames without payload are a single buffer', () => {
  const bufs = encodeFrame(FrameKind.ping, {});
  assert.equal(bufs.length, 1);
  const [f] = new FrameDecoder().feed(bufs[0]!);
  assert.deepEqual(f, { kind: FrameKind.ping, header: {}, payload: null });
  const [g] = new FrameDecoder().feed(concat(encodeFrame(FrameKind.message, { type: 'x' }, Buffer.alloc(0))));
  assert.equal(g!.payload, null);
});

test('encoder refuses what cannot travel (sender bugs): non-JSON values, oversize, huge bigint', () => {
  assert.throws(() => encodeFrame(FrameKind.message, { type: 'x', b: Buffer.from('a') }), TypeError);
  assert.throws(() => encodeFrame(FrameKind.message, { type: 'x', n: NaN }), TypeError);
  assert.throws(() => encodeFrame(FrameKind.message, { type: 'x', m: new Map() }), TypeError);
  assert.throws(() => encodeFrame(FrameKind.message, { type: 'x', v: 1n << 64n }), RangeError);
  assert.throws(() => encodeFrame(FrameKind.message, { type: 'x', s: 'a'.repeat(70_000) }), RangeError);
  assert.throws(() => encodeFrame(FrameKind.message, { type: 'x' }, Buffer.alloc(10), { headerJsonBytesMax: 100, payloadBytesMax: 5 }), RangeError);
  const deep: Record<string, unknown> = { type: 'x' };
  let cur = deep;
  for (let i = 0; i < 40; i++) cur = (cur.n = {}) as Record<string, unknown>;
  assert.throws(() => encodeFrame(FrameKind.message, deep), RangeError);
});

test('decoder: bad magic (already from the first byte), version, kind, oversize header/payload, bad JSON, shape', () => {
  expectCode(() => new FrameDecoder().feed(Buffer.from([0x00])), 'ERR_PEER_FRAME_MAGIC');
  expectCode(() => new FrameDecoder().feed(Buffer.from('GET / HTTP/1.1\r\n')), 'ERR_PEER_FRAME_MAGIC');
  expectCode(() => new FrameDecoder().feed(rawFrame({ magic: 0x12345678 })), 'ERR_PEER_FRAME_MAGIC');
  expectCode(() => new FrameDecoder().feed(rawFrame({ version: 2 })), 'ERR_PEER_FRAME_VERSION');
  expectCode(() => new FrameDecoder().feed(rawFrame({ kind: 7 })), 'ERR_PEER_FRAME_KIND');
  expectCode(() => new FrameDecoder().feed(rawFrame({ jsonBytes: 64 * 1024 + 1 }).subarray(0, 16)), 'ERR_PEER_HEADER_TOO_LARGE');
  expectCode(() => new FrameDecoder({ payloadBytesMax: 1000 }).feed(rawFrame({ payloadBytes: 1001 }).subarray(0, 16)), 'ERR_PEER_PAYLOAD_TOO_LARGE');
  expectCode(() => new FrameDecoder().feed(rawFrame({ payloadBytes: 0xffffffff }).subarray(0, 16)), 'ERR_PEER_PAYLOAD_TOO_LARGE');
  expectCode(() => new FrameDecoder().feed(rawFrame({ json: Buffer.from('{"a":') })), 'ERR_PEER_HEADER_JSON');
  expectCode(() => new FrameDecoder().feed(rawFrame({ json: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]) })), 'ERR_PEER_HEADER_JSON');
  expectCode(() => new FrameDecoder().feed(rawFrame({ json: Buffer.from('[1,2]') })), 'ERR_PEER_HEADER_SHAPE');
  expectCode(() => new FrameDecoder().feed(rawFrame({ json: Buffer.from('{"$u64":"xyz"}') })), 'ERR_PEER_HEADER_SHAPE');
  expectCode(() => new FrameDecoder().feed(rawFrame({ json: Buffer.from('{"$evil":1}') })), 'ERR_PEER_HEADER_SHAPE');
  expectCode(() => new FrameDecoder().feed(rawFrame({ json: Buffer.from('['.repeat(5000) + ']'.repeat(5000)) })), 'ERR_PEER_HEADER_SHAPE');
  expectCode(() => new FrameDecoder().feed(rawFrame({ json: Buffer.from('{"a":' + '['.repeat(60000) + ']'.repeat(60000) + '}').subarray(0, 60000) })), 'ERR_PEER_HEADER_JSON');
  expectCode(() => new FrameDecoder().feed(rawFrame({ kind: FrameKind.message, json: Buffer.from('{"type":5}') })), 'ERR_PEER_HEADER_SHAPE');
});

test('decoder is poisoned after an error', () => {
  const d = new FrameDecoder();
  expectCode(() => d.feed(Buffer.from('nope')), 'ERR_PEER_FRAME_MAGIC');
  expectCode(() => d.feed(concat(encodeFrame(FrameKind.ping, {}))), 'ERR_PEER_FRAME_MAGIC');
});

test('limits apply from the next frame header on (tight during handshake, relaxed after)', () => {
  const d = new FrameDecoder({ headerJsonBytesMax: 4096, payloadBytesMax: 128 });
  const stream = concat([...encodeFrame(FrameKind.handshake, { step: 'commit' }), ...encodeFrame(FrameKind.message, { type: 'big' }, Buffer.alloc(10_000, 7))]);
  d.push(stream);
  assert.deepEqual(d.next()!.header, { step: 'commit' });
  d.setLimits({ payloadBytesMax: 1 << 20 });
  assert.equal(d.next()!.payload!.length, 10_000);
  assert.equal(d.next(), null);
});

const headerValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
    fc.boolean(),
    fc.constant(null),
    fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('$u64', '$i64', '$$', '$', 'type')), tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;

const frameArb = fc.record({
  kind: fc.constantFrom(...(Object.values(FrameKind) as FrameKind[])),
  extra: fc.dictionary(fc.string(), headerValue, { maxKeys: 4, noNullPrototype: true }),
  type: fc.string(),
  payload: fc.option(fc.uint8Array({ minLength: 1, maxLength: 300 }), { nil: null }),
});

test('property: any sequence of frames survives any chunking', () => {
  fc.assert(
    fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
      const wire = concat(
        frames.flatMap((f) => encodeFrame(f.kind, { ...f.extra, type: f.type }, f.payload === null ? null : Buffer.from(f.payload))),
      );
      const got = decodeChunks(splitAt(wire, cuts));
      assert.equal(got.length, frames.length);
      got.forEach((g, i) => {
        const f = frames[i]!;
        assert.equal(g.kind, f.kind);
        assert.deepEqual(g.header, { ...f.extra, type: f.type });
        assert.deepEqual(g.payload, f.payload === null ? null : Buffer.from(f.payload));
      });
    }),
    { numRuns: 300 },
  );
});

test('property: large payloads come as the received chunks, in order, without a copy; small ones as one buffer', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ bytes: fc.nat({ max: 3000 }), fill: fc.nat({ max: 255 }) }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      fc.nat({ max: 3000 }),
      (specs, cuts, chunkedMin) => {
        // Sent as several buffers too: the encoder takes a chunk list as well as one buffer.
        const payloads = specs.map((s) => Buffer.alloc(s.bytes, s.fill));
        const wire = concat(payloads.flatMap((pl, i) => encodeFrame(FrameKind.message, { type: 'data', i }, pl.length > 1 ? [pl.subarray(0, 1), pl.subarray(1)] : pl)));
        const d = new FrameDecoder();
        d.setChunkedPayloadBytesMin(chunkedMin);
        // Each piece in its own memory, as socket reads are.
        const pieces = splitAt(wire, cuts).map((b) => Buffer.from(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)));
        const got: Frame[] = [];
        for (const c of pieces) got.push(...d.feed(c));
        assert.equal(got.length, payloads.length);
        got.forEach((g, i) => {
          const want = payloads[i]!;
          if (want.length === 0) return assert.equal(g.payload, null);
          if (Array.isArray(g.payload)) {
            assert.ok(want.length >= chunkedMin, 'only payloads of at least the threshold are chunked');
            assert.ok(g.payload.length > 1);
            for (const c of g.payload as Buffer[]) assert.ok(pieces.some((p) => p.buffer === c.buffer), 'a chunk is a view of a received piece');
            assert.deepEqual(Buffer.concat(g.payload as Buffer[]), want);
          } else {
            assert.deepEqual(g.payload, want);
          }
        });
      },
    ),
    { numRuns: 300 },
  );
});

function onlyProtocolErrors(chunks: Buffer[]): void {
  const d = new FrameDecoder({ payloadBytesMax: 4096 });
  try {
    for (const c of chunks) d.feed(c);
  } catch (err) {
    if (!(err instanceof PeerProtocolError)) throw err;
    assert.equal(typeof err.code, 'string');
  }
}

test('fuzz: random bytes in random chunks only ever raise PeerProtocolError', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), (chunks) => onlyProtocolErrors(chunks.map((c) => Buffer.from(c)))),
    { numRuns: 1000 },
  );
});

test('fuzz: valid frames with mutated bytes only ever raise PeerProtocolError', () => {
  fc.assert(
    fc.property(
      fc.array(frameArb, { minLength: 1, maxLength: 4 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (frames, flips, cuts) => {
        const wire = Buffer.from(concat(frames.flatMap((f) => encodeFrame(f.kind, { ...f.extra, type: f.type }, f.payload === null ? null : Buffer.from(f.payload)))));
        for (const [pos, v] of flips) wire[pos % wire.length] = v;
        onlyProtocolErrors(splitAt(wire, cuts));
      },
    ),
    { numRuns: 1000 },
  );
});

test('property: a reader that fills payloads in place (payloadTarget) decodes the same frames, and copies no payload byte twice', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ type: fc.constantFrom('data', 'rs-data', 'ping'), payloadBytes: fc.constantFrom(0, 1, 4096, 70_000, 300_000) }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 30 }),
      (specs, readSizes) => {
        const frames = specs.map((s, i) => ({ header: { type: s.type, n: i }, payload: s.payloadBytes === 0 ? null : Buffer.alloc(s.payloadBytes, (i * 37 + 11) & 0xff) }));
        const wire = concat(frames.flatMap((f) => encodeFrame(FrameKind.message, f.header, f.payload)));
        const dec = new FrameDecoder();
        dec.setPayloadPool(new BufferPool());
        const reused = Buffer.alloc(65_536);
        const got: Frame[] = [];
        let inPlaceBytes = 0;
        for (let at = 0, r = 0; at < wire.length; r++) {
          // What a socket read does: the kernel fills the buffer it was given, up to its length.
          const target = dec.payloadTarget() ?? reused;
          const n = Math.min(target.length, readSizes[r % readSizes.length]!, wire.length - at);
          wire.copy(target, 0, at, at + n);
          at += n;
          if (target !== reused) inPlaceBytes += n;
          dec.push(target.subarray(0, n));
          for (let f = dec.next(); f !== null; f = dec.next()) got.push(f);
          dec.ownRemainder();
        }
        assert.equal(got.length, frames.length);
        got.forEach((g, i) => {
          assert.deepEqual(g.header, frames[i]!.header);
          assert.deepEqual(g.payload, frames[i]!.payload);
        });
        const bigPayload = frames.some((f) => (f.payload?.length ?? 0) >= 300_000);
        if (bigPayload) assert.ok(inPlaceBytes > 0, 'a large payload is read in place at least in part');
      },
    ),
    { numRuns: 200, seed: 7 },
  );
});
