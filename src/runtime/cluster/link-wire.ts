// The plaintext inside a sealed cluster packet (pure: no sockets, no clock).
//
//   u8 kind | u8 link | u16 reserved 0 | u32 to | u32 incarnation | u48 seq | u16 reserved 0
//   kind 1 data: then the message as UTF-8 JSON (at least one byte)
//   kind 2 ping: then f64 sentAt (the pinger's monotonic clock, ms)
//   kind 3 pong: then f64 sentAt and u32 incarnation echoed from the ping
//
// `incarnation` is random per transport start, so a restarted sender's sequence numbers
// are never mistaken for duplicates of the previous run's.

export const INNER_HEADER_BYTES = 20;
const PING_BYTES = INNER_HEADER_BYTES + 8;
const PONG_BYTES = INNER_HEADER_BYTES + 12;
export const SEQ_MAX = 2 ** 48 - 1;

export const InnerKind = { data: 1, ping: 2, pong: 3 } as const;

interface InnerCommon {
  link: number;
  to: number;
  incarnation: number;
  seq: number;
}

export type InnerPacket =
  | (InnerCommon & { kind: 'data'; json: Buffer })
  | (InnerCommon & { kind: 'ping'; sentAt: number })
  | (InnerCommon & { kind: 'pong'; sentAt: number; pingerIncarnation: number });

export type DecodeResult = { ok: true; packet: InnerPacket } | { ok: false; detail: string };

export function encodeInner(p: InnerPacket): Buffer {
  const size = p.kind === 'data' ? INNER_HEADER_BYTES + p.json.length : p.kind === 'ping' ? PING_BYTES : PONG_BYTES;
  const b = Buffer.alloc(size);
  b.writeUInt8(InnerKind[p.kind], 0);
  b.writeUInt8(p.link, 1);
  b.writeUInt32BE(p.to, 4);
  b.writeUInt32BE(p.incarnation, 8);
  b.writeUIntBE(p.seq, 12, 6);
  if (p.kind === 'data') p.json.copy(b, INNER_HEADER_BYTES);
  else {
    b.writeDoubleBE(p.sentAt, INNER_HEADER_BYTES);
    if (p.kind === 'pong') b.writeUInt32BE(p.pingerIncarnation, INNER_HEADER_BYTES + 8);
  }
  return b;
}

/** Never throws: every malformed input is a `{ok: false}` with the reason. */
export function decodeInner(b: Buffer): DecodeResult {
  if (b.length < INNER_HEADER_BYTES) return { ok: false, detail: `inner header needs ${INNER_HEADER_BYTES} bytes, got ${b.length}` };
  if (b.readUInt16BE(2) !== 0 || b.readUInt16BE(18) !== 0) return { ok: false, detail: 'reserved inner header bytes are not zero' };
  const common: InnerCommon = { link: b.readUInt8(1), to: b.readUInt32BE(4), incarnation: b.readUInt32BE(8), seq: b.readUIntBE(12, 6) };
  const kind = b.readUInt8(0);
  switch (kind) {
    case InnerKind.data:
      if (b.length === INNER_HEADER_BYTES) return { ok: false, detail: 'data packet without a message' };
      return { ok: true, packet: { ...common, kind: 'data', json: b.subarray(INNER_HEADER_BYTES) } };
    case InnerKind.ping: {
      if (b.length !== PING_BYTES) return { ok: false, detail: `ping is ${b.length} bytes, expected ${PING_BYTES}` };
      const sentAt = b.readDoubleBE(INNER_HEADER_BYTES);
      if (!Number.isFinite(sentAt)) return { ok: false, detail: 'ping timestamp is not a finite number' };
      return { ok: true, packet: { ...common, kind: 'ping', sentAt } };
    }
    case InnerKind.pong: {
      if (b.length !== PONG_BYTES) return { ok: false, detail: `pong is ${b.length} bytes, expected ${PONG_BYTES}` };
      const sentAt = b.readDoubleBE(INNER_HEADER_BYTES);
      if (!Number.isFinite(sentAt)) return { ok: false, detail: 'pong timestamp is not a finite number' };
      return { ok: true, packet: { ...common, kind: 'pong', sentAt, pingerIncarnation: b.readUInt32BE(INNER_HEADER_BYTES + 8) } };
    }
    default:
      return { ok: false, detail: `unknown inner packet kind ${kind}` };
  }
}

/**
 * Remembers which sequence numbers of one sender incarnation were seen, within a window
 * of the last `size` numbers; anything older than the window counts as a duplicate.
 */
export class DuplicateWindow {
  private readonly seen: Float64Array;
  private highest = -1;

  constructor(private readonly size = 1024) {
    this.seen = new Float64Array(size).fill(-1);
  }

  /** True the first time `seq` is offered; false for a repeat or a number too old to judge. */
  accept(seq: number): boolean {
    if (this.highest >= 0 && seq + this.size <= this.highest) return false;
    const slot = seq % this.size;
    // A slot holds the newest number that maps to it; an older one would be out of window.
    if (this.seen[slot] === seq) return false;
    this.seen[slot] = seq;
    if (seq > this.highest) this.highest = seq;
    return true;
  }
}
