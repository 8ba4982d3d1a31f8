// Wire format of the replication link between the nodes of a resource (pure: no sockets).
//
// A frame is a fixed 16-byte header, then a JSON header, then an optional binary payload:
//
//   u32 magic 0x5AFE51DE | u16 version 1 | u16 kind | u32 headerJsonBytes | u32 payloadBytes
//
// all big-endian. The JSON header is always an object; bigint values travel as tagged objects
// ({"$u64":"hex"} / {"$i64":"-hex"}) and object keys starting with '$' are escaped by doubling
// the '$', so any header survives the round trip exactly. A zero-length payload decodes as null.
// See docs/peer-protocol.md.

import { ByteQueue } from '../byte-queue.js';
import type { BufferPool } from '../buffer-pool.js';
import { isReadInPlace } from '../socket-reader.js';

export const FRAME_MAGIC = 0x5afe51de;
export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 16;

export const FrameKind = {
  message: 0,
  handshake: 1,
  authChallenge: 2,
  authResponse: 3,
  ping: 4,
  pingAck: 5,
  close: 6,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];
const KIND_MAX = FrameKind.close;

export const FRAME_KIND_NAMES: Record<FrameKind, string> = {
  0: 'message',
  1: 'handshake',
  2: 'auth-challenge',
  3: 'auth-response',
  4: 'ping',
  5: 'ping-ack',
  6: 'close',
};

export type FrameHeader = Record<string, unknown>;

export interface Frame {
  kind: FrameKind;
  header: FrameHeader;
  /**
   * null when the frame carried no payload bytes. A payload of at least the decoder's
   * `chunkedPayloadBytesMin` that spans received chunks comes as those chunks (no copy).
   */
  payload: Buffer | readonly Buffer[] | null;
}

export interface FrameLimits {
  /** Largest JSON header accepted or produced. */
  headerJsonBytesMax: number;
  /** Largest payload accepted or produced. */
  payloadBytesMax: number;
}

export const HEADER_JSON_BYTES_MAX = 64 * 1024;
export const FRAME_LIMITS_DEFAULT: Readonly<FrameLimits> = Object.freeze({
  headerJsonBytesMax: HEADER_JSON_BYTES_MAX,
  payloadBytesMax: 8 * 1024 * 1024,
});
/** Nesting of objects/arrays allowed in a header (a bigint tag counts as one level). */
export const HEADER_DEPTH_MAX = 32;

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);

export type PeerProtocolErrorCode =
  // frame level (FrameDecoder / decodeHeaderJson)
  | 'ERR_PEER_FRAME_MAGIC'
  | 'ERR_PEER_FRAME_VERSION'
  | 'ERR_PEER_FRAME_KIND'
  | 'ERR_PEER_HEADER_TOO_LARGE'
  | 'ERR_PEER_PAYLOAD_TOO_LARGE'
  | 'ERR_PEER_HEADER_JSON'
  | 'ERR_PEER_HEADER_SHAPE'
  // link level (PeerLink state machine)
  | 'ERR_PEER_UNEXPECTED_FRAME'
  | 'ERR_PEER_HANDSHAKE'
  | 'ERR_PEER_TRUNCATED';

/** The peer sent something that is not valid protocol. Thrown by the codec; caught by the link. */
export class PeerProtocolError extends Error {
  override readonly name = 'PeerProtocolError';
  constructor(
    readonly code: PeerProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON header <-> wire JSON (bigint tagging, '$' key escaping)

/**
 * Turn a header value into plain JSON data: bigint -> {"$u64"|"$i64": hex}, '$'-keys escaped.
 * Throws TypeError/RangeError for values that cannot travel (a programmer error of the sender).
 */
export function toWireJson(value: unknown, depth = 0): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`peer frame header: non-finite number ${value}`);
      return value;
    case 'bigint':
      if (depth + 1 > HEADER_DEPTH_MAX) throw new RangeError(`peer frame header nested deeper than ${HEADER_DEPTH_MAX}`);
      if (value >= 0n) {
        if (value > U64_MAX) throw new RangeError(`peer frame header: bigint ${value} does not fit 64 bits`);
        return { $u64: value.toString(16) };
      }
      if (value < I64_MIN) throw new RangeError(`peer frame header: bigint ${value} does not fit 64 bits`);
      return { $i64: '-' + (-value).toString(16) };
    case 'object': {
      if (value === null) return null;
      if (depth + 1 > HEADER_DEPTH_MAX) throw new RangeError(`peer frame header nested deeper than ${HEADER_DEPTH_MAX}`);
      if (Array.isArray(value)) {
        return value.map((v) => (v === undefined ? null : toWireJson(v, depth + 1)));
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(
          `peer frame header: ${proto?.constructor?.name ?? 'object'} is not JSON-able (binary data goes in the payload)`,
        );
      }
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        const v = (value as Record<string, unknown>)[key];
        if (v === undefined) continue;
        setOwn(out, key.startsWith('$') ? '$' + key : key, toWireJson(v, depth + 1));
      }
      return out;
    }
    case 'undefined':
      throw new TypeError('peer frame header: undefined is not JSON-able');
    default:
      throw new TypeError(`peer frame header: ${typeof value} is not JSON-able`);
  }
}

/** Inverse of toWireJson on parsed JSON from the network; only throws PeerProtocolError. */
export function fromWireJson(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth + 1 > HEADER_DEPTH_MAX) {
    throw new PeerProtocolError('ERR_PEER_HEADER_SHAPE', `frame header nested deeper than ${HEADER_DEPTH_MAX}`);
  }
  if (Array.isArray(value)) return value.map((v) => fromWireJson(v, depth + 1));
  const keys = Object.keys(value);
  const obj = value as Record<string, unknown>;
  if (keys.length === 1 && (keys[0] === '$u64' || keys[0] === '$i64')) return decodeBigint(keys[0], obj[keys[0]]);
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    let k = key;
    if (key.startsWith('$')) {
      if (!key.startsWith('$$')) {
        throw new PeerProtocolError('ERR_PEER_HEADER_SHAPE', `frame header has unescaped key ${JSON.stringify(key.slice(0, 40))}`);
      }
      k = key.slice(1);
    }
    setOwn(out, k, fromWireJson(obj[key], depth + 1));
  }
  return out;
}

function decodeBigint(tag: '$u64' | '$i64', text: unknown): bigint {
  const re = tag === '$u64' ? /^[0-9a-f]{1,16}$/ : /^-[0-9a-f]{1,16}$/;
  if (typeof text !== 'string' || !re.test(text)) {
    throw new PeerProtocolError('ERR_PEER_HEADER_SHAPE', `frame header has a malformed ${tag} value`);
  }
  const v = tag === '$u64' ? BigInt('0x' + text) : -BigInt('0x' + text.slice(1));
  if (v < I64_MIN) throw new PeerProtocolError('ERR_PEER_HEADER_SHAPE', 'frame header $i64 value out of range');
  return v;
}

/** Plain assignment would turn a "__proto__" key into a prototype change. */
function setOwn(obj: Record<string, unknown>, key: string, v: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[key] = v;
}

const EMPTY_OBJECT_JSON = Buffer.from('{}');

/**
 * A header of plain scalars (the messages of every write and ack) is its own wire form:
 * no bigint to tag, no '$' key to escape, nothing nested.
 */
function isFlatScalarHeader(header: FrameHeader): boolean {
  if (Object.getPrototypeOf(header) !== Object.prototype) return false;
  for (const key in header) {
    if (!Object.hasOwn(header, key) || key.charCodeAt(0) === 36 /* $ */) return false;
    const v = header[key];
    const t = typeof v;
    if (t === 'string' || t === 'boolean' || v === null) continue;
    if (t === 'number' && Number.isFinite(v)) continue;
    return false;
  }
  return true;
}

/** Encode a header object as wire JSON bytes. */
export function encodeHeaderJson(header: FrameHeader): Buffer {
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new TypeError('peer frame header must be a plain object');
  }
  if (Object.keys(header).length === 0) return EMPTY_OBJECT_JSON;
  return Buffer.from(JSON.stringify(isFlatScalarHeader(header) ? header : toWireJson(header)), 'utf8');
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decode wire JSON bytes into a header object. Only throws PeerProtocolError. */
export function decodeHeaderJson(bytes: Uint8Array): FrameHeader {
  if (bytes.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(bytes));
  } catch {
    throw new PeerProtocolError('ERR_PEER_HEADER_JSON', 'frame header is not valid UTF-8 JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new PeerProtocolError('ERR_PEER_HEADER_SHAPE', 'frame header is not a JSON object');
  }
  // JSON.parse makes own data properties only (a "__proto__" key included), so a flat header
  // without '$' keys is already what fromWireJson would build.
  if (isFlatScalarHeader(parsed as FrameHeader)) return parsed as FrameHeader;
  return fromWireJson(parsed) as FrameHeader;
}

// ---------------------------------------------------------------------------------------------
// Encoder

/**
 * Encode one frame as buffers for a vectored write: [fixed header + JSON] and, when there is
 * one, the payload itself (not copied). Throws (RangeError/TypeError) when the frame breaks
 * the limits — the sender's mistake, not the peer's.
 */
export function encodeFrame(
  kind: FrameKind,
  header: FrameHeader,
  payload: Buffer | readonly Buffer[] | null = null,
  limits: FrameLimits = FRAME_LIMITS_DEFAULT,
): Buffer[] {
  if (!Number.isInteger(kind) || kind < 0 || kind > KIND_MAX) throw new RangeError(`unknown peer frame kind ${kind}`);
  const json = encodeHeaderJson(header);
  if (json.length > limits.headerJsonBytesMax) {
    throw new RangeError(`peer frame header is ${json.length} bytes, limit ${limits.headerJsonBytesMax}`);
  }
  const payloadBytes = payload === null ? 0 : Buffer.isBuffer(payload) ? payload.length : frameBytes(payload);
  if (payloadBytes > limits.payloadBytesMax) {
    throw new RangeError(`peer frame payload is ${payloadBytes} bytes, limit ${limits.payloadBytesMax}`);
  }
  const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES + json.length);
  head.writeUInt32BE(FRAME_MAGIC, 0);
  head.writeUInt16BE(FRAME_VERSION, 4);
  head.writeUInt16BE(kind, 6);
  head.writeUInt32BE(json.length, 8);
  head.writeUInt32BE(payloadBytes, 12);
  json.copy(head, FRAME_HEADER_BYTES);
  if (payloadBytes === 0) return [head];
  return Buffer.isBuffer(payload) ? [head, payload] : [head, ...payload!.filter((c) => c.length > 0)];
}

/** Total bytes of an encoded frame. */
export function frameBytes(bufs: readonly Buffer[]): number {
  let n = 0;
  for (const b of bufs) n += b.length;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Decoder

/**
 * Incremental decoder: push() arbitrary chunks, pull frames with next(). Limits apply to the
 * next frame whose fixed header is parsed, so they can be tightened or relaxed between frames
 * (the link accepts only small frames until the handshake is done). After an error the
 * decoder is poisoned and rethrows it.
 */
export class FrameDecoder {
  private limits: FrameLimits;
  private readonly queue = new ByteQueue();
  private pending: { kind: FrameKind; jsonBytes: number; payloadBytes: number } | null = null;
  private failure: PeerProtocolError | null = null;
  private chunkedPayloadBytesMin = Infinity;
  private payloadPool: BufferPool | null = null;
  /** The message frame whose payload is being copied into a pooled buffer. */
  private pooled: { header: FrameHeader; buf: Buffer; filled: number } | null = null;

  constructor(limits: Partial<FrameLimits> = {}) {
    this.limits = checkLimits({ ...FRAME_LIMITS_DEFAULT, ...limits });
  }

  /**
   * Payloads of at least this many bytes that span several received chunks are returned
   * as the list of chunks instead of being copied into one buffer (default: never).
   */
  setChunkedPayloadBytesMin(bytes: number): void {
    this.chunkedPayloadBytesMin = bytes;
  }

  /**
   * Message payloads are copied into buffers of this pool as their bytes arrive, so the
   * received chunks die young; the receiver owns one reference to each payload.
   */
  setPayloadPool(pool: BufferPool | null): void {
    this.payloadPool = pool;
  }

  setLimits(limits: Partial<FrameLimits>): void {
    this.limits = checkLimits({ ...this.limits, ...limits });
  }

  getLimits(): FrameLimits {
    return { ...this.limits };
  }

  /** Bytes received and not yet returned as frames. */
  get bufferedBytes(): number {
    return this.queue.length;
  }

  /** True when a frame has been started (some of its bytes arrived) but not completed. */
  get midFrame(): boolean {
    return this.queue.length > 0 || this.pending !== null;
  }

  push(chunk: Buffer): void {
    if (this.failure) throw this.failure;
    const f = this.pooled;
    if (f !== null && this.queue.length === 0 && isReadInPlace(chunk, f.buf, f.filled)) {
      // Read straight into the payload (see payloadTarget): nothing to copy.
      f.filled += chunk.length;
      return;
    }
    this.queue.push(chunk);
  }

  /**
   * Where the next bytes of the connection belong when they are payload of the frame being
   * received and nothing else is queued: the unfilled rest of its pooled buffer (for a socket
   * reader that reads into it directly). Null otherwise.
   */
  payloadTarget(): Buffer | null {
    const f = this.pooled;
    if (f === null || this.queue.length > 0 || this.failure !== null) return null;
    return f.filled < f.buf.length ? f.buf.subarray(f.filled) : null;
  }

  /** Copy the bytes still queued, so the pushed chunks may be overwritten (a reused read buffer). */
  ownRemainder(): void {
    this.queue.compact();
  }

  /** The next complete frame, or null when more bytes are needed. Only throws PeerProtocolError. */
  next(): Frame | null {
    if (this.failure) throw this.failure;
    try {
      return this.step();
    } catch (err) {
      this.failure =
        err instanceof PeerProtocolError ? err : new PeerProtocolError('ERR_PEER_HEADER_SHAPE', `undecodable frame: ${String(err)}`);
      this.clear();
      throw this.failure;
    }
  }

  /** Push a chunk and return every frame it completes (convenience for tests and tools). */
  feed(chunk: Buffer): Frame[] {
    this.push(chunk);
    const out: Frame[] = [];
    for (let f = this.next(); f !== null; f = this.next()) out.push(f);
    return out;
  }

  private step(): Frame | null {
    if (this.pending === null) {
      if (this.queue.length < FRAME_HEADER_BYTES) {
        // Reject a wrong magic as soon as its bytes are here (garbage should not wait for 16 bytes).
        this.checkMagicPrefix();
        return null;
      }
      const h = this.queue.take(FRAME_HEADER_BYTES);
      const magic = h.readUInt32BE(0);
      if (magic !== FRAME_MAGIC) {
        throw new PeerProtocolError('ERR_PEER_FRAME_MAGIC', `bad frame magic 0x${magic.toString(16).padStart(8, '0')}`);
      }
      const version = h.readUInt16BE(4);
      if (version !== FRAME_VERSION) {
        throw new PeerProtocolError('ERR_PEER_FRAME_VERSION', `unsupported frame version ${version} (supported: ${FRAME_VERSION})`);
      }
      const kind = h.readUInt16BE(6);
      if (kind > KIND_MAX) throw new PeerProtocolError('ERR_PEER_FRAME_KIND', `unknown frame kind ${kind}`);
      const jsonBytes = h.readUInt32BE(8);
      if (jsonBytes > this.limits.headerJsonBytesMax) {
        throw new PeerProtocolError(
          'ERR_PEER_HEADER_TOO_LARGE',
          `frame header of ${jsonBytes} bytes exceeds the limit of ${this.limits.headerJsonBytesMax}`,
        );
      }
      const payloadBytes = h.readUInt32BE(12);
      if (payloadBytes > this.limits.payloadBytesMax) {
        throw new PeerProtocolError(
          'ERR_PEER_PAYLOAD_TOO_LARGE',
          `frame payload of ${payloadBytes} bytes exceeds the limit of ${this.limits.payloadBytesMax}`,
        );
      }
      this.pending = { kind: kind as FrameKind, jsonBytes, payloadBytes };
    }
    const p = this.pending;
    if (this.payloadPool !== null && p.kind === FrameKind.message && p.payloadBytes > 0) return this.stepPooled(p);
    if (this.queue.length < p.jsonBytes + p.payloadBytes) return null;
    const header = decodeHeaderJson(this.queue.take(p.jsonBytes));
    if (p.kind === FrameKind.message && typeof header.type !== 'string') {
      throw new PeerProtocolError('ERR_PEER_HEADER_SHAPE', 'message frame header has no string "type"');
    }
    let payload: Buffer | Buffer[] | null = null;
    if (p.payloadBytes > 0) {
      if (p.payloadBytes >= this.chunkedPayloadBytesMin) {
        const chunks = this.queue.takeChunks(p.payloadBytes);
        payload = chunks.length === 1 ? chunks[0]! : chunks;
      } else {
        payload = this.queue.take(p.payloadBytes);
      }
    }
    this.pending = null;
    return { kind: p.kind, header, payload };
  }

  /** A message payload copied into a pooled buffer as its bytes arrive (see setPayloadPool). */
  private stepPooled(p: { kind: FrameKind; jsonBytes: number; payloadBytes: number }): Frame | null {
    if (this.pooled === null) {
      if (this.queue.length < p.jsonBytes) return null;
      const header = decodeHeaderJson(this.queue.take(p.jsonBytes));
      if (typeof header.type !== 'string') throw new PeerProtocolError('ERR_PEER_HEADER_SHAPE', 'message frame header has no string "type"');
      this.pooled = { header, buf: this.payloadPool!.acquire(p.payloadBytes), filled: 0 };
    }
    const f = this.pooled;
    f.filled += this.queue.takeInto(f.buf, f.filled, p.payloadBytes - f.filled);
    if (f.filled < p.payloadBytes) return null;
    this.pooled = null;
    this.pending = null;
    return { kind: p.kind, header: f.header, payload: f.buf };
  }

  private checkMagicPrefix(): void {
    const n = Math.min(this.queue.length, 4);
    for (let i = 0; i < n; i++) {
      const expected = (FRAME_MAGIC >>> (24 - 8 * i)) & 0xff;
      const got = this.queue.byteAt(i);
      if (got !== expected) {
        throw new PeerProtocolError('ERR_PEER_FRAME_MAGIC', `bad frame magic (byte ${i} is 0x${got.toString(16).padStart(2, '0')})`);
      }
    }
  }

  private clear(): void {
    this.queue.clear();
    this.pending = null;
    this.pooled = null;
  }
}

function checkLimits(l: FrameLimits): FrameLimits {
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`frame limit ${k} must be a u32, got ${v}`);
  }
  if (l.headerJsonBytesMax > HEADER_JSON_BYTES_MAX) {
    throw new RangeError(`headerJsonBytesMax may not exceed ${HEADER_JSON_BYTES_MAX}`);
  }
  return l;
}
