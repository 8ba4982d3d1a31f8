// The engine's wire messages and log entries, and the checks every received message
// passes before the engine looks at it. A check returns the typed message or a sentence
// naming the field, the value and what was expected; nothing here throws on bad input.

import type { NodeId, QuorumStatus } from './types.js';
import type { AgreedQuorum, QuorumCarry } from './engine-quorum.js';

/**
 * Limits, so one message cannot make a node allocate without bound, and every message fits
 * the transport (60 KiB of JSON per datagram, src/runtime/cluster/transport.ts).
 */
export const limits = {
  entriesPerAppendMax: 64,
  requestsPerMessageMax: 64,
  /** cpg_name: at most 128 bytes; we also refuse control characters. */
  groupNameBytesMax: 128,
  /** A group message payload, measured as the UTF-8 bytes of its JSON string. */
  payloadBytesMax: 32 * 1024,
  groupsPerNodeMax: 64,
  /** Group names the cluster keeps (with members, or with a message counter). */
  groupCountMax: 128,
  /** Appends and requests stop adding entries beyond this estimate of their JSON size. */
  messageBytesBudget: 40 * 1024,
  /** Incarnations remembered per node for deduplication of group requests. */
  incarnationsMax: 4,
};

export type RequestOp = 'join' | 'leave' | 'msg';

/** One group call of one node incarnation, numbered so that a leader can drop repeats. */
export interface GroupRequest {
  seq: number;
  op: RequestOp;
  group: string;
  payload: string;
}

export interface MemberEntry {
  k: 'member';
  term: number;
  /** The leader that appended it (the ring id's rep) and the ring id's sequence. */
  rep: NodeId;
  ringSeq: number;
  members: NodeId[];
  /** Incarnation of each member (aligned with members): a restarted node is a new member. */
  incs: number[];
  arbiter: boolean;
  quorum: AgreedQuorum;
  status: QuorumStatus;
  /** Groups of the nodes that join the membership (CPG's NODEUP). */
  nodeGroups: { node: NodeId; groups: string[] }[];
}

/** last_man_standing lowered expected votes: same membership, new quorum state. */
export interface QuorumEntry {
  k: 'quorum';
  term: number;
  quorum: AgreedQuorum;
  status: QuorumStatus;
}

export interface RequestEntry extends GroupRequest {
  k: 'req';
  term: number;
  node: NodeId;
  inc: number;
}

export type Entry = MemberEntry | QuorumEntry | RequestEntry;

export interface SnapshotMembership {
  rep: NodeId;
  ringSeq: number;
  members: NodeId[];
  incs: number[];
  arbiter: boolean;
  /** Term of the entry that made it. */
  term: number;
}

/** The applied state at one log position: what a follower installs instead of entries. */
export interface Snapshot {
  lastIndex: number;
  lastTerm: number;
  membership: SnapshotMembership | null;
  quorum: AgreedQuorum;
  status: QuorumStatus | null;
  /** Group name, members, messages so far (a group without members keeps its counter). */
  groups: [string, NodeId[], number][];
  /** Per node: the last applied request seq of its recent incarnations. */
  requests: [NodeId, [number, number][]][];
}

export type Message =
  | { kind: 'prevote'; term: number; lastIndex: number; lastTerm: number }
  /** term: the proposed term it answers; voterTerm: the voter's own (a stale candidate catches up). */
  | { kind: 'prevote-reply'; term: number; granted: boolean; voterTerm: number }
  | { kind: 'vote'; term: number; lastIndex: number; lastTerm: number }
  | { kind: 'vote-reply'; term: number; granted: boolean; inc: number }
  | {
      kind: 'append';
      term: number;
      prevIndex: number;
      prevTerm: number;
      entries: Entry[];
      commit: number;
      round: number;
      /** The latest nonce the leader received from this follower, or null. */
      echo: number | null;
      /** The leader's lease left at send time, in ms (negative: none). */
      leaseMs: number;
    }
  | { kind: 'snapshot'; term: number; snap: Snapshot; round: number; echo: number | null; leaseMs: number }
  | {
      kind: 'append-reply';
      term: number;
      ok: boolean;
      /** ok: the index up to which the log matches the leader's; else the index to retry after. */
      match: number;
      needSnapshot: boolean;
      round: number;
      nonce: number;
      inc: number;
      groups: string[];
      /** It installed a snapshot inside its current ring and asks to be moved to a new one. */
      rejoin: boolean;
    }
  | { kind: 'request'; term: number; inc: number; reqs: GroupRequest[] };

export type MessageKind = Message['kind'];

// ---------------------------------------------------------------------------

class Bad extends Error {}

type Obj = Record<string, unknown>;

const TERM_MAX = Number.MAX_SAFE_INTEGER;

function obj(v: unknown, where: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Bad(`${where}: expected an object, got ${show(v)}`);
  return v as Obj;
}

function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function int(o: Obj, key: string, where: string, min = 0, max = TERM_MAX): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new Bad(`${where}.${key}: expected an integer in ${min}..${max}, got ${show(v)}`);
  }
  return v;
}

function num(o: Obj, key: string, where: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Bad(`${where}.${key}: expected a finite number, got ${show(v)}`);
  return v;
}

function bool(o: Obj, key: string, where: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw new Bad(`${where}.${key}: expected true or false, got ${show(v)}`);
  return v;
}

function arr(o: Obj, key: string, where: string, max: number): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new Bad(`${where}.${key}: expected a list, got ${show(v)}`);
  if (v.length > max) throw new Bad(`${where}.${key}: at most ${max} items expected, got ${v.length}`);
  return v;
}

function str(o: Obj, key: string, where: string, maxBytes: number): string {
  const v = o[key];
  if (typeof v !== 'string') throw new Bad(`${where}.${key}: expected a string, got ${show(v)}`);
  // UTF-8 length is at most 3 bytes per UTF-16 unit; count exactly only near the limit.
  if (v.length * 3 > maxBytes && utf8Length(v) > maxBytes) throw new Bad(`${where}.${key}: at most ${maxBytes} bytes expected, got ${utf8Length(v)}`);
  return v;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** What a validator needs to know about the cluster. */
export interface Known {
  /** Configured data node ids. */
  nodes: ReadonlySet<NodeId>;
  arbiter: boolean;
}

function nodeId(v: unknown, where: string, known: Known): NodeId {
  if (typeof v !== 'number' || !known.nodes.has(v)) throw new Bad(`${where}: expected a configured node id, got ${show(v)}`);
  return v;
}

function nodeList(o: Obj, key: string, where: string, known: Known): NodeId[] {
  const list = arr(o, key, where, known.nodes.size).map((v, i) => nodeId(v, `${where}.${key}[${i}]`, known));
  for (let i = 1; i < list.length; i++) {
    if (list[i]! <= list[i - 1]!) throw new Bad(`${where}.${key}: expected ascending node ids without repeats, got ${show(list)}`);
  }
  return list;
}

function incList(o: Obj, where: string, length: number): number[] {
  const list = arr(o, 'incs', where, length).map((_, i) => int(o.incs as Obj, String(i), `${where}.incs`));
  if (list.length !== length) throw new Bad(`${where}.incs: expected ${length} incarnations (one per member), got ${list.length}`);
  return list;
}

function groupName(o: Obj, key: string, where: string): string {
  const problem = groupNameProblem(o[key]);
  if (problem) throw new Bad(`${where}.${key}: ${problem}`);
  return o[key] as string;
}

/** Why this is not a group name, or null. */
export function groupNameProblem(g: unknown): string | null {
  if (typeof g !== 'string' || g.length === 0) return `expected a non-empty group name, got ${show(g)}`;
  if (/[\u0000-\u001f]/.test(g)) return `a group name has no control characters, got ${show(g)}`;
  if (g.length * 3 > limits.groupNameBytesMax && utf8Length(g) > limits.groupNameBytesMax) {
    return `a group name has at most ${limits.groupNameBytesMax} bytes, got ${utf8Length(g)}`;
  }
  return null;
}

/** Why this is not a group message payload, or null. */
export function payloadProblem(p: unknown): string | null {
  if (typeof p !== 'string') return `expected a string payload, got ${show(p)}`;
  if (p.length * 6 + 2 <= limits.payloadBytesMax) return null;
  const bytes = utf8Length(JSON.stringify(p));
  return bytes > limits.payloadBytesMax ? `a payload has at most ${limits.payloadBytesMax} bytes as JSON, got ${bytes}` : null;
}

/** An upper estimate of a group request's JSON size (at most 6 bytes per UTF-16 unit: \u0001). */
export function requestBytes(r: GroupRequest): number {
  const bound = r.payload.length * 6 + 2;
  return 160 + 2 * limits.groupNameBytesMax + (bound <= 4096 ? bound : utf8Length(JSON.stringify(r.payload)));
}

/** An upper estimate of an entry's JSON size, to keep messages under the transport's limit. */
export function entryBytes(e: Entry): number {
  switch (e.k) {
    case 'req':
      return requestBytes(e);
    case 'member':
      return 900 + 40 * e.members.length + e.nodeGroups.reduce((s, g) => s + 40 + g.groups.length * (2 * limits.groupNameBytesMax + 3), 0);
    case 'quorum':
      return 700 + 20 * e.quorum.carry.previousMembers.length + 20 * (e.quorum.counted?.length ?? 0);
  }
}

function status(v: unknown, where: string): QuorumStatus {
  const o = obj(v, where);
  const flags = arr(o, 'flags', where, 8);
  for (const [i, f] of flags.entries()) if (typeof f !== 'string' || f.length > 32) throw new Bad(`${where}.flags[${i}]: expected a flag name, got ${show(f)}`);
  return {
    quorate: bool(o, 'quorate', where),
    quorum: int(o, 'quorum', where),
    expectedVotes: int(o, 'expectedVotes', where),
    highestExpected: int(o, 'highestExpected', where),
    totalVotes: int(o, 'totalVotes', where),
    flags: flags as string[],
  };
}

function idOrNull(o: Obj, key: string, where: string, known: Known): NodeId | null {
  return o[key] === null ? null : nodeId(o[key], `${where}.${key}`, known);
}

function carry(v: unknown, where: string, known: Known): QuorumCarry {
  const o = obj(v, where);
  return {
    expectedVotes: int(o, 'expectedVotes', where),
    quorum: int(o, 'quorum', where),
    waitForAllPending: bool(o, 'waitForAllPending', where),
    previousMembers: nodeList(o, 'previousMembers', where, known),
    tieBreakerLowest: idOrNull(o, 'tieBreakerLowest', where, known),
    tieBreakerHighest: idOrNull(o, 'tieBreakerHighest', where, known),
  };
}

function agreedQuorum(v: unknown, where: string, known: Known): AgreedQuorum {
  const o = obj(v, where);
  return {
    carry: carry(o.carry, `${where}.carry`, known),
    counted: o.counted === null ? null : nodeList(o, 'counted', where, known),
  };
}

function groupRequest(v: unknown, where: string): GroupRequest {
  const o = obj(v, where);
  const op = o.op;
  if (op !== 'join' && op !== 'leave' && op !== 'msg') throw new Bad(`${where}.op: expected join, leave or msg, got ${show(op)}`);
  const problem = payloadProblem(o.payload);
  if (problem) throw new Bad(`${where}.payload: ${problem}`);
  return { seq: int(o, 'seq', where, 1), op, group: groupName(o, 'group', where), payload: o.payload as string };
}

function entry(v: unknown, where: string, known: Known): Entry {
  const o = obj(v, where);
  const term = int(o, 'term', where, 1);
  switch (o.k) {
    case 'member': {
      const members = nodeList(o, 'members', where, known);
      const nodeGroups = arr(o, 'nodeGroups', where, known.nodes.size).map((g, i) => {
        const w = `${where}.nodeGroups[${i}]`;
        const go = obj(g, w);
        return { node: nodeId(go.node, `${w}.node`, known), groups: arr(go, 'groups', w, limits.groupsPerNodeMax).map((_, j) => groupName(go.groups as Obj, String(j), `${w}.groups`)) };
      });
      const arbiter = bool(o, 'arbiter', where);
      if (arbiter && !known.arbiter) throw new Bad(`${where}.arbiter: true, but no arbiter is configured`);
      return {
        k: 'member',
        term,
        rep: nodeId(o.rep, `${where}.rep`, known),
        ringSeq: int(o, 'ringSeq', where, 1),
        members,
        incs: incList(o, where, members.length),
        arbiter,
        quorum: agreedQuorum(o.quorum, `${where}.quorum`, known),
        status: status(o.status, `${where}.status`),
        nodeGroups,
      };
    }
    case 'quorum':
      return { k: 'quorum', term, quorum: agreedQuorum(o.quorum, `${where}.quorum`, known), status: status(o.status, `${where}.status`) };
    case 'req':
      return { k: 'req', term, node: nodeId(o.node, `${where}.node`, known), inc: int(o, 'inc', where), ...groupRequest(o, where) };
    default:
      throw new Bad(`${where}.k: expected member, quorum or req, got ${show(o.k)}`);
  }
}

function pairs<T>(o: Obj, key: string, where: string, max: number, item: (p: unknown[], w: string) => T): T[] {
  return arr(o, key, where, max).map((p, i) => {
    const w = `${where}.${key}[${i}]`;
    if (!Array.isArray(p) || p.length !== 2) throw new Bad(`${w}: expected a pair, got ${show(p)}`);
    return item(p, w);
  });
}

function snapshot(v: unknown, where: string, known: Known): Snapshot {
  const o = obj(v, where);
  let membership: SnapshotMembership | null = null;
  if (o.membership !== null) {
    const w = `${where}.membership`;
    const m = obj(o.membership, w);
    membership = {
      rep: nodeId(m.rep, `${w}.rep`, known),
      ringSeq: int(m, 'ringSeq', w, 1),
      members: nodeList(m, 'members', w, known),
      incs: [],
      arbiter: bool(m, 'arbiter', w),
      term: int(m, 'term', w, 1),
    };
    membership.incs = incList(m, w, membership.members.length);
  }
  const groups = arr(o, 'groups', where, limits.groupCountMax).map((g, i) => {
    const w = `${where}.groups[${i}]`;
    if (!Array.isArray(g) || g.length !== 3) throw new Bad(`${w}: expected [name, members, seq], got ${show(g)}`);
    const t = g as unknown as Obj;
    return [groupName(t, '0', w), nodeList(t, '1', w, known), int(t, '2', w)] as [string, NodeId[], number];
  });
  const requests = pairs(o, 'requests', where, known.nodes.size, (p, w) => {
    const node = nodeId(p[0], `${w}[0]`, known);
    const incs = pairs(p as unknown as Obj, '1', w, limits.incarnationsMax, (q, w2) => [int(q as unknown as Obj, '0', w2), int(q as unknown as Obj, '1', w2)] as [number, number]);
    return [node, incs] as [NodeId, [number, number][]];
  });
  return {
    lastIndex: int(o, 'lastIndex', where),
    lastTerm: int(o, 'lastTerm', where),
    membership,
    quorum: agreedQuorum(o.quorum, `${where}.quorum`, known),
    status: o.status === null ? null : status(o.status, `${where}.status`),
    groups,
    requests,
  };
}

function nonceOrNull(o: Obj, key: string, where: string): number | null {
  return o[key] === null ? null : int(o, key, where);
}

/** Check a received message; `from` must be a configured voter other than this node. */
export function parseMessage(raw: unknown, from: unknown, self: NodeId, known: Known): { ok: true; message: Message } | { ok: false; error: string } {
  try {
    const fromOk = typeof from === 'number' && (known.nodes.has(from) || (known.arbiter && from === 0)) && from !== self;
    if (!fromOk) throw new Bad(`sender ${show(from)} is not a configured voter of this cluster (or is this node)`);
    const o = obj(raw, 'message');
    const where = `message ${typeof o.kind === 'string' ? o.kind.slice(0, 20) : '?'}`;
    const term = int(o, 'term', where);
    let m: Message;
    switch (o.kind) {
      case 'prevote':
      case 'vote':
        m = { kind: o.kind, term, lastIndex: int(o, 'lastIndex', where), lastTerm: int(o, 'lastTerm', where) };
        break;
      case 'prevote-reply':
        m = { kind: o.kind, term, granted: bool(o, 'granted', where), voterTerm: int(o, 'voterTerm', where) };
        break;
      case 'vote-reply':
        m = { kind: o.kind, term, granted: bool(o, 'granted', where), inc: int(o, 'inc', where) };
        break;
      case 'append': {
        const prevIndex = int(o, 'prevIndex', where);
        const entries = arr(o, 'entries', where, limits.entriesPerAppendMax).map((e, i) => entry(e, `${where}.entries[${i}]`, known));
        for (const [i, e] of entries.entries()) if (e.term > term) throw new Bad(`${where}.entries[${i}].term: ${e.term} is above the message's term ${term}`);
        m = {
          kind: 'append',
          term,
          prevIndex,
          prevTerm: int(o, 'prevTerm', where),
          entries,
          commit: int(o, 'commit', where),
          round: int(o, 'round', where),
          echo: nonceOrNull(o, 'echo', where),
          leaseMs: num(o, 'leaseMs', where),
        };
        break;
      }
      case 'snapshot':
        m = { kind: 'snapshot', term, snap: snapshot(o.snap, `${where}.snap`, known), round: int(o, 'round', where), echo: nonceOrNull(o, 'echo', where), leaseMs: num(o, 'leaseMs', where) };
        break;
      case 'append-reply':
        m = {
          kind: 'append-reply',
          term,
          ok: bool(o, 'ok', where),
          match: int(o, 'match', where),
          needSnapshot: bool(o, 'needSnapshot', where),
          round: int(o, 'round', where),
          nonce: int(o, 'nonce', where),
          inc: int(o, 'inc', where),
          groups: arr(o, 'groups', where, limits.groupsPerNodeMax).map((_, i) => groupName(o.groups as Obj, String(i), `${where}.groups`)),
          rejoin: bool(o, 'rejoin', where),
        };
        break;
      case 'request':
        m = { kind: 'request', term, inc: int(o, 'inc', where), reqs: arr(o, 'reqs', where, limits.requestsPerMessageMax).map((r, i) => groupRequest(r, `${where}.reqs[${i}]`)) };
        break;
      default:
        throw new Bad(`message.kind: expected one of prevote, vote, append, snapshot, request and their replies, got ${show(o.kind)}`);
    }
    // Only data nodes lead, ask for votes or send group requests.
    if (from === 0 && (m.kind === 'append' || m.kind === 'snapshot' || m.kind === 'prevote' || m.kind === 'vote' || m.kind === 'request')) {
      throw new Bad(`the arbiter (node 0) never sends ${m.kind} messages`);
    }
    return { ok: true, message: m };
  } catch (err) {
    if (err instanceof Bad) return { ok: false, error: err.message };
    // A validator bug must not take the node down either; report it as such.
    return { ok: false, error: `message check failed unexpectedly: ${String(err)}` };
  }
}
