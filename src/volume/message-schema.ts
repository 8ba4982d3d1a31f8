// Every message from a peer is checked against its schema before the core looks at
// it: a peer's bytes are never trusted to have the right shape or sane values.

import { z } from 'zod';
import type { PeerMessage } from './messages.js';

const u64 = z.bigint().min(0n).max(0xffff_ffff_ffff_ffffn);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const volume = z.number().int().min(0).max(65535);
const offset = z.number().int().min(0).max(2 ** 53 - 1);
const length = z.number().int().min(1).max(64 * 1024 * 1024);
const roleNum = z.number().int().min(0).max(2);
const diskNum = z.number().int().min(0).max(8);
const hex = z.string().regex(/^[0-9a-f]{0,256}$/);

const schemas = {
  params: z.object({
    type: z.literal('params'),
    protocol: z.enum(['A', 'B', 'C']),
    allowTwoPrimaries: z.boolean(),
    afterSb0pri: z.string().max(64),
    afterSb1pri: z.string().max(64),
    afterSb2pri: z.string().max(64),
    discardMyData: z.boolean(),
    volumes: z.array(volume).max(256),
  }),
  uuids: z.object({
    type: z.literal('uuids'),
    volume,
    current: u64,
    bitmap: u64,
    history: z.tuple([u64, u64]),
    dirtyBits: count,
    flags: z.number().int().min(0).max(0xffff),
  }),
  sizes: z.object({ type: z.literal('sizes'), volume, usableBytes: count }),
  state: z.object({
    type: z.literal('state'),
    role: roleNum,
    disks: z.array(z.object({ volume, disk: diskNum })).max(256),
  }),
  'promote-request': z.object({ type: z.literal('promote-request'), requestId: count }),
  'promote-reply': z.object({ type: z.literal('promote-reply'), requestId: count, result: z.number().int().min(-100).max(10) }),
  data: z.object({ type: z.literal('data'), volume, id: count, epoch: count, offset, fua: z.boolean() }),
  'recv-ack': z.object({ type: z.literal('recv-ack'), volume, id: count }),
  'write-ack': z.object({ type: z.literal('write-ack'), volume, id: count }),
  'neg-ack': z.object({ type: z.literal('neg-ack'), volume, id: count }),
  'peer-ack': z.object({ type: z.literal('peer-ack'), ids: z.array(count).max(65536), holders: z.array(z.string().max(64)).max(32) }),
  barrier: z.object({ type: z.literal('barrier'), epoch: count }),
  'barrier-ack': z.object({ type: z.literal('barrier-ack'), epoch: count }),
  'out-of-sync': z.object({ type: z.literal('out-of-sync'), volume, offset, length }),
  bitmap: z.object({ type: z.literal('bitmap'), volume, byteOffset: offset, last: z.boolean() }),
  'sync-start': z.object({ type: z.literal('sync-start'), volume, senderIs: z.enum(['source', 'target']) }),
  'sync-uuid': z.object({ type: z.literal('sync-uuid'), volume, uuid: u64 }),
  'rs-request': z.object({ type: z.literal('rs-request'), volume, offset, length, digest: hex.nullable() }),
  'rs-data': z.object({ type: z.literal('rs-data'), volume, offset, length }),
  'rs-in-sync': z.object({ type: z.literal('rs-in-sync'), volume, offset, length }),
  'rs-ack': z.object({ type: z.literal('rs-ack'), volume, offset, length }),
  'rs-done': z.object({ type: z.literal('rs-done'), volume }),
  'ov-start': z.object({ type: z.literal('ov-start'), volume }),
  'ov-request': z.object({ type: z.literal('ov-request'), volume, offset, length, digests: z.array(hex).max(16384) }),
  'ov-reply': z.object({ type: z.literal('ov-reply'), volume, offset, length, differing: z.array(z.number().int().min(0).max(16383)).max(16384) }),
  'ov-done': z.object({ type: z.literal('ov-done'), volume, outOfSyncBlocks: count }),
} as const;

/** Messages that must carry a payload, and those that must not. */
const withPayload = new Set(['data', 'rs-data', 'bitmap']);

export type ParsedMessage = { ok: true; message: PeerMessage } | { ok: false; problem: string };

// The messages of every replicated write and resync block are checked by hand with the same
// rules as their schemas (zod costs several microseconds per message); anything they do not
// accept goes through zod, which then names the problem.
type FieldRule = (v: unknown) => boolean;
const isVolume: FieldRule = (v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;
const isCount: FieldRule = (v) => Number.isSafeInteger(v) && (v as number) >= 0;
const isOffset = isCount;
const isLength: FieldRule = (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 64 * 1024 * 1024;
const isBool: FieldRule = (v) => typeof v === 'boolean';
const hexRe = /^[0-9a-f]{0,256}$/;
const isHexOrNull: FieldRule = (v) => v === null || (typeof v === 'string' && hexRe.test(v));
const ackFields: [string, FieldRule][] = [
  ['volume', isVolume],
  ['id', isCount],
];
const rangeFields: [string, FieldRule][] = [
  ['volume', isVolume],
  ['offset', isOffset],
  ['length', isLength],
];
const hotShapes: Record<string, [string, FieldRule][]> = {
  data: [
    ['volume', isVolume],
    ['id', isCount],
    ['epoch', isCount],
    ['offset', isOffset],
    ['fua', isBool],
  ],
  'recv-ack': ackFields,
  'write-ack': ackFields,
  'neg-ack': ackFields,
  barrier: [['epoch', isCount]],
  'barrier-ack': [['epoch', isCount]],
  'rs-request': [...rangeFields, ['digest', isHexOrNull]],
  'rs-data': rangeFields,
  'rs-in-sync': rangeFields,
  'rs-ack': rangeFields,
};

/** The message with exactly its schema's keys (as zod returns it), or null if a rule fails. */
function parseHot(type: string, h: Record<string, unknown>): PeerMessage | null {
  const shape = hotShapes[type];
  if (shape === undefined) return null;
  const out: Record<string, unknown> = { type };
  for (const [key, rule] of shape) {
    const v = h[key];
    if (!rule(v)) return null;
    out[key] = v;
  }
  return out as unknown as PeerMessage;
}

export function parsePeerMessage(header: unknown, payload: Buffer | readonly Buffer[] | null): ParsedMessage {
  return parse(header, payload, true);
}

/** The schemas alone, without the hand-written checks (tests compare the two). */
export function parsePeerMessageBySchema(header: unknown, payload: Buffer | readonly Buffer[] | null): ParsedMessage {
  return parse(header, payload, false);
}

function parse(header: unknown, payload: Buffer | readonly Buffer[] | null, fast: boolean): ParsedMessage {
  if (typeof header !== 'object' || header === null || typeof (header as { type?: unknown }).type !== 'string') {
    return { ok: false, problem: 'message without a type' };
  }
  const type = (header as { type: string }).type;
  const hot = fast && Object.hasOwn(hotShapes, type) ? parseHot(type, header as Record<string, unknown>) : null;
  if (hot !== null) {
    if (withPayload.has(type) !== (payload !== null)) {
      return { ok: false, problem: `${type} message ${payload ? 'must not carry' : 'needs'} a payload` };
    }
    return { ok: true, message: hot };
  }
  const schema = Object.hasOwn(schemas, type) ? (schemas as Record<string, z.ZodType>)[type] : undefined;
  if (!schema) return { ok: false, problem: `unknown message type ${JSON.stringify(type.slice(0, 40))}` };
  const r = schema.safeParse(header);
  if (!r.success) {
    const issue = r.error.issues[0];
    return { ok: false, problem: `bad ${type} message: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim() };
  }
  if (withPayload.has(type) !== (payload !== null)) {
    return { ok: false, problem: `${type} message ${payload ? 'must not carry' : 'needs'} a payload` };
  }
  return { ok: true, message: r.data as PeerMessage };
}
