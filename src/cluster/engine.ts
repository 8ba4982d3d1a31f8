// The cluster engine of one node: a Raft-style core (PreVote, CheckQuorum, leader
// stickiness and leases) whose committed log carries the agreed membership, the agreed
// quorum state and the totally ordered process-group traffic (CPG-like). Pure: events in,
// effects out; the clock and randomness come in through the events and the options.
// docs/cluster-engine.md explains the design and the safety argument.
//
// Voters are the configured data nodes and, when configured, the arbiter (node 0). The
// arbiter runs this same engine: it grants votes and acknowledges heartbeats, keeps only
// term, vote and the (term, index) of the last entry it acknowledged, never leads and
// never delivers.
//
// Terms are disjoint per data node (term mod nodeCount = the node's slot), so two
// candidates never share a term: at most one leader per term even when a diskless
// arbiter forgot its vote, or when two_node lets both halves elect themselves.

import type { Engine, EngineEffect, EngineEvent, EngineMessage, EngineOptions, EngineView, GroupChangeReason, PersistentState } from './engine-api.js';
import { RaftLog } from './engine-log.js';
import { entryBytes, requestBytes, groupNameProblem, limits, parseMessage, payloadProblem, type Entry, type GroupRequest, type Known, type MemberEntry, type Message, type Snapshot } from './engine-messages.js';
import { QuorumRule, type AgreedQuorum } from './engine-quorum.js';
import { AgreedState, type Change, type GroupDelta } from './engine-state.js';
import { ARBITER_NODE_ID, type ClusterConfig, type Membership, type NodeId, type QuorumStatus } from './types.js';

export { limits } from './engine-messages.js';

/** Timing derived from totem's settings; see docs/cluster-engine.md. */
export interface EngineTimings {
  tokenMs: number;
  heartbeatMs: number;
  electionMinMs: number;
  electionMaxMs: number;
  leaseMs: number;
}

/** Leases are 80% of the token: a 20% margin for clock rate differences between nodes. */
export const LEASE_FRACTION = 0.8;

export function engineTimings(config: ClusterConfig): EngineTimings {
  const t = config.timings;
  const tokenMs = t.tokenMs;
  const heartbeatMs = Math.max(t.joinMs, tokenMs / 10);
  const electionMaxMs = Math.max(t.consensusMs, tokenMs + heartbeatMs);
  return { tokenMs, heartbeatMs, electionMinMs: tokenMs, electionMaxMs, leaseMs: tokenMs * LEASE_FRACTION };
}

/** Pending group calls a node keeps while no leader has taken them (CPG's TRY_AGAIN beyond). */
const pendingRequestsMax = 1024;
/** Log entries a leader keeps beyond the slowest member before it compacts anyway. */
const logEntriesMax = 4096;
/** Applied entries kept for followers that lag a little, before compaction. */
const logSlackEntries = 256;
/** Uncommitted entries a leader accepts before it refuses new group calls (they are retried). */
const uncommittedMax = 2048;
/** Ring id sequence = term × this + the number of membership entries of the term. */
const RING_SEQ_PER_TERM = 0x10000;
const NONCES_MAX = 256;
/** Heartbeat rounds whose send time a leader remembers (an older acknowledgement does not extend the lease). */
const ROUNDS_MAX = 256;

interface Peer {
  next: number;
  match: number;
  needSnapshot: boolean;
  /** Leader-local receive time of the last acknowledgement (or vote reply) this term. */
  lastAckAt: number;
  /** Latest leader send time of a round this voter acknowledged. */
  ackedSentAt: number;
  nonce: number | null;
  inc: number;
  groups: string[];
  /** Acknowledged in this term at least once, so its groups are known. */
  acked: boolean;
  /** The commit index last sent to it. */
  sentCommit: number;
  /** Where its last refusal told us to resume (0: none). */
  floor: number;
  /** It got a snapshot while a member: it leaves the membership once and rejoins, so its gap falls between rings. */
  rejoin: boolean;
  /** The latest round it answered. */
  lastRound: number;
}

interface ConfigScan {
  quorum: AgreedQuorum;
  membership: { members: NodeId[]; incs: number[]; arbiter: boolean; index: number };
  pendingIndex: number;
}

type Role = 'follower' | 'precandidate' | 'candidate' | 'leader' | 'arbiter';

const NEVER = -Infinity;

export function createEngine(opts: EngineOptions): Engine {
  return new ClusterEngine(opts);
}

/** The longest prefix (at least one item) whose estimated JSON size stays within the message budget. */
function budgeted<T>(items: T[], bytes: (item: T) => number): T[] {
  let total = 0;
  for (let i = 0; i < items.length; i++) {
    total += bytes(items[i]!);
    if (total > limits.messageBytesBudget && i > 0) return items.slice(0, i);
  }
  return items;
}

const sameList = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const ringKey = (rep: NodeId, seq: number): string => `${rep}.${seq}`;

class ClusterEngine implements Engine {
  private readonly self: NodeId;
  private readonly config: ClusterConfig;
  private readonly random: () => number;
  private readonly rule: QuorumRule;
  private readonly known: Known;
  private readonly voters: NodeId[];
  private readonly dataNodes: NodeId[];
  private readonly isArbiter: boolean;
  private readonly t: EngineTimings;

  // Persistent
  private term = 0;
  private votedFor: NodeId | null = null;

  // Volatile
  private role: Role;
  private leader: NodeId | null = null;
  private readonly log = new RaftLog();
  private commit = 0;
  private state: AgreedState;
  /** The arbiter's stand-in for a log: the last (term, index) it acknowledged. */
  private arbLast = { term: 0, index: 0 };
  private started = false;
  private now = 0;
  private listenUntil = 0;
  private lastLeaderContact = NEVER;
  private electionDeadline = Infinity;
  private grants = new Set<NodeId>();
  private preTerm = 0;
  private awaitingSnapshot = false;

  // Follower lease
  private readonly nonces = new Map<number, number>();
  private followerLeaseUntil = NEVER;

  // Leader
  private readonly peers = new Map<NodeId, Peer>();
  private readonly rounds = new Map<number, number>();
  private round = 0;
  private lastRoundAt = NEVER;
  private nextHeartbeat = 0;
  private leaseUntil = NEVER;
  private leaderSince = 0;
  private firstIndexOfTerm = 0;
  private memberEntriesThisTerm = 0;
  private readonly proposed = new Map<NodeId, [number, number][]>();
  private needBroadcast = false;
  private lmsSince: number | null = null;

  // Local process groups
  private readonly inc: number;
  private reqSeq = 0;
  private readonly localGroups = new Set<string>();
  private pending: GroupRequest[] = [];
  private nextResend = Infinity;

  // What the application was told
  private emittedRing: string | null = null;
  /** Sequence of the emitted ring id; rings below it are history this node already told. */
  private emittedRingSeq = 0;
  /** Per group, the last seq delivered in the emitted ring. */
  private readonly ringDelivered = new Map<string, number>();
  /** A ring in which this node missed messages (it installed a snapshot while a member): it delivers no more in it. */
  private brokenRing: string | null = null;
  private emittedMembers: NodeId[] = [];
  private emittedIncs: number[] = [];
  private readonly emittedGroups = new Map<string, NodeId[]>();
  private lastQuorumKey = '';
  private readonly baseStatus: QuorumStatus;

  private out: EngineEffect[] = [];

  constructor(opts: EngineOptions) {
    this.self = opts.self;
    this.config = opts.config;
    this.random = opts.random;
    this.rule = new QuorumRule(opts.config);
    this.dataNodes = opts.config.nodes.map((n) => n.nodeId).sort((a, b) => a - b);
    this.voters = opts.config.arbiter ? [...this.dataNodes, ARBITER_NODE_ID] : [...this.dataNodes];
    this.known = { nodes: new Set(this.dataNodes), arbiter: opts.config.arbiter !== null };
    this.isArbiter = opts.self === ARBITER_NODE_ID;
    if (this.isArbiter && !opts.config.arbiter) throw new RangeError(`${opts.config.file}: node 0 is the arbiter, but the configuration has no quorum device`);
    if (!this.isArbiter && !this.known.nodes.has(opts.self)) {
      throw new RangeError(`${opts.config.file}: node ${opts.self} is not in the nodelist (nodes: ${this.dataNodes.join(', ')})`);
    }
    const t = opts.config.timings;
    if (!(t.tokenMs > 0 && Number.isFinite(t.tokenMs))) throw new RangeError(`${opts.config.file}: totem.token must be above 0 ms, got ${t.tokenMs}`);
    this.t = engineTimings(opts.config);
    this.role = this.isArbiter ? 'arbiter' : 'follower';
    this.state = new AgreedState(this.rule.initial());
    if (opts.persisted) {
      this.term = opts.persisted.term;
      this.votedFor = opts.persisted.votedFor;
    }
    this.inc = Math.floor(this.random() * 2 ** 40);
    this.baseStatus = { ...this.rule.membershipQuorum(this.isArbiter ? [] : [this.self], false, this.rule.initial()).status, quorate: false };
    this.baseStatus.flags = this.baseStatus.flags.filter((f) => f !== 'Quorate');
  }

  // ------------------------------------------------------------------ interface

  step(event: EngineEvent): EngineEffect[] {
    this.out = [];
    const now = typeof event?.now === 'number' && Number.isFinite(event.now) ? event.now : this.now;
    // The clock is monotonic; an event from the past is taken as happening now.
    this.now = Math.max(this.now, now);
    if (!this.started && event?.type !== 'start') this.start();
    switch (event?.type) {
      case 'start':
        if (this.started) this.warn('start event for an engine that is already running; ignored');
        else this.start();
        break;
      case 'tick':
        break;
      case 'receive':
        this.receive(event.from, event.message);
        break;
      case 'group-join':
        this.groupCall('join', event.group, '');
        break;
      case 'group-leave':
        this.groupCall('leave', event.group, '');
        break;
      case 'group-send':
        this.groupCall('msg', event.group, event.payload);
        break;
      default:
        this.warn(`unknown event type ${JSON.stringify((event as { type?: unknown })?.type)}; ignored`);
    }
    this.timers();
    this.afterStep();
    const out = this.out;
    this.out = [];
    return out;
  }

  nextWakeup(): number {
    let t = Infinity;
    if (this.role === 'leader') t = Math.min(t, this.nextHeartbeat);
    else if (!this.isArbiter) t = Math.min(t, this.electionDeadline);
    if (this.pending.length > 0 && this.role !== 'leader') t = Math.min(t, this.nextResend);
    const until = this.leaseEnd();
    if (until > this.now && until < Infinity) t = Math.min(t, until);
    return t;
  }

  view(now: number): EngineView {
    const m = this.state.membership;
    return {
      role: this.role === 'precandidate' ? 'candidate' : this.role,
      term: this.term,
      leader: this.leader,
      quorate: this.quorateAt(now),
      quorum: this.statusAt(now),
      membership: m && !this.isArbiter ? { ringId: { rep: m.rep, seq: m.ringSeq }, members: [...m.members], arbiterPresent: m.arbiter } : null,
      groups: [...this.emittedGroups].map(([name, members]) => ({ name, members: [...members] })),
    };
  }

  // ------------------------------------------------------------------ time

  private start(): void {
    this.started = true;
    // A node that may have voted or acknowledged before it (re)started grants nothing for
    // one maximum election timeout: whatever leader it supported holds a lease that must
    // run out first. Every start counts: the arbiter is diskless, and a data node whose
    // state file was lost cannot tell a first start from a restart either.
    this.listenUntil = this.now + this.t.electionMaxMs;
    this.electionDeadline = this.listenUntil + this.electionTimeout();
  }

  private electionTimeout(): number {
    return this.t.electionMinMs + this.random() * (this.t.electionMaxMs - this.t.electionMinMs);
  }

  private timers(): void {
    const now = this.now;
    if (this.role === 'leader') {
      if (now >= this.nextHeartbeat) {
        this.nextHeartbeat = now + this.t.heartbeatMs;
        this.broadcast(true);
      }
      this.checkQuorum();
      if (this.role === 'leader') {
        this.maintainMembership();
        this.lastManStanding();
        this.compact();
      }
    } else if (!this.isArbiter && now >= this.electionDeadline) {
      if (now < this.listenUntil) this.electionDeadline = this.listenUntil + this.electionTimeout();
      else if (now < this.lastLeaderContact + this.t.tokenMs) this.electionDeadline = this.lastLeaderContact + this.electionTimeout();
      else this.startPreVote();
    }
    if (this.role !== 'leader' && this.pending.length > 0 && now >= this.nextResend) this.sendPending();
  }

  private afterStep(): void {
    if (this.role === 'leader' && this.needBroadcast) this.broadcast(false);
    this.needBroadcast = false;
    // Most steps change neither the agreed status nor the quorate flag: compare cheaply first.
    const base = this.state.status ?? this.baseStatus;
    const quorate = this.quorateAt(this.now);
    if (base === this.lastQuorumBase && quorate === this.lastQuorate) return;
    this.lastQuorumBase = base;
    this.lastQuorate = quorate;
    const status = this.statusAt(this.now);
    const key = `${status.quorate}|${status.quorum}|${status.expectedVotes}|${status.highestExpected}|${status.totalVotes}|${status.flags.join(',')}`;
    if (key !== this.lastQuorumKey) {
      this.lastQuorumKey = key;
      this.out.push({ type: 'quorum', status });
    }
  }

  private lastQuorumBase: QuorumStatus | null = null;
  private lastQuorate = false;

  // ------------------------------------------------------------------ quorum

  private configCache: { version: number; applied: number; commit: number; scan: ConfigScan } | null = null;

  /** The latest config entries in the log beyond the applied state (cached per log version). */
  private configScan(): ConfigScan {
    const c = this.configCache;
    if (c && c.version === this.log.version && c.applied === this.state.index && c.commit === this.commit) return c.scan;
    let quorum: AgreedQuorum | null = null;
    let membership: ConfigScan['membership'] | null = null;
    let pendingIndex = 0;
    for (let i = this.log.lastIndex; i > this.state.index && (quorum === null || membership === null); i--) {
      const e = this.log.at(i);
      if (e.k === 'req') continue;
      if (pendingIndex === 0 && i > this.commit) pendingIndex = i;
      if (quorum === null) quorum = e.quorum;
      if (membership === null && e.k === 'member') membership = { members: e.members, incs: e.incs, arbiter: e.arbiter, index: i };
    }
    const m = this.state.membership;
    const scan: ConfigScan = {
      quorum: quorum ?? this.state.quorum,
      membership: membership ?? { members: m?.members ?? [], incs: m?.incs ?? [], arbiter: m?.arbiter ?? false, index: 0 },
      pendingIndex,
    };
    this.configCache = { version: this.log.version, applied: this.state.index, commit: this.commit, scan };
    return scan;
  }

  /** The quorum state of the latest config entry in the log (or the applied one). */
  private latestQuorum(): AgreedQuorum {
    return this.configScan().quorum;
  }

  private latestMembership(): ConfigScan['membership'] {
    return this.configScan().membership;
  }

  /** Index of the latest uncommitted config entry, or 0. */
  private pendingConfigIndex(): number {
    return this.configScan().pendingIndex;
  }

  /**
   * Decisions need a set quorate under both the applied (committed) quorum state and the
   * latest one in the log, so that a change of the rules cannot let two disjoint sets
   * decide (joint consensus, one change in flight at a time).
   */
  private quorate(set: Iterable<NodeId>): boolean {
    const ids = [...set];
    const committed = this.state.quorum;
    if (!this.rule.isQuorateVoters(ids, committed)) return false;
    const latest = this.latestQuorum();
    return latest === committed || this.rule.isQuorateVoters(ids, latest);
  }

  private leaseEnd(): number {
    if (this.isArbiter) return NEVER;
    return this.role === 'leader' ? Math.min(this.leaseUntil, this.membersFreshUntil()) : this.followerLeaseUntil;
  }

  /**
   * two_node: a leader is quorate alone, so its lease says nothing about its peer. It
   * reports quorum with a membership only while every member acknowledged within the
   * lease: a peer that elects itself after a token of silence then never overlaps it.
   */
  private membersFreshUntil(): number {
    const m = this.state.membership;
    if (!this.rule.rules.twoNode || !m) return Infinity;
    let until = Infinity;
    for (const n of m.members) {
      if (n === this.self) continue;
      until = Math.min(until, (this.peers.get(n)?.ackedSentAt ?? NEVER) + this.t.leaseMs);
    }
    return until;
  }

  private quorateAt(now: number): boolean {
    if (this.isArbiter) return false;
    const s = this.state.status;
    const m = this.state.membership;
    if (!s || !s.quorate || !m || !this.state.isMember(this.self, this.inc) || m.term !== this.term) return false;
    if (this.role === 'leader') return now < this.leaseEnd() && this.commit >= this.firstIndexOfTerm && m.rep === this.self;
    return this.leader !== null && m.rep === this.leader && now < this.followerLeaseUntil;
  }

  private statusAt(now: number): QuorumStatus {
    const base = this.state.status ?? this.baseStatus;
    const quorate = this.quorateAt(now);
    return { ...base, quorate, flags: quorate ? [...base.flags] : base.flags.filter((f) => f !== 'Quorate') };
  }

  // ------------------------------------------------------------------ terms and roles

  /** The next term this node may campaign in: above `t`, in this node's residue class. */
  private nextTerm(t: number): number {
    const n = this.dataNodes.length;
    const slot = this.dataNodes.indexOf(this.self);
    let next = t + 1;
    next += (((slot - next) % n) + n) % n;
    return next;
  }

  private persist(): void {
    const state: PersistentState = { term: this.term, votedFor: this.votedFor };
    const last = this.out[this.out.length - 1];
    if (last?.type === 'persist') this.out[this.out.length - 1] = { type: 'persist', state };
    else this.out.push({ type: 'persist', state });
  }

  private becomeFollower(term: number, leader: NodeId | null): void {
    let changed = false;
    if (term > this.term) {
      this.term = term;
      this.votedFor = null;
      changed = true;
    }
    if (this.role === 'leader') {
      this.info(`leader of term ${this.term} steps down`, { term: this.term });
      this.peers.clear();
      this.rounds.clear();
      this.leaseUntil = NEVER;
    }
    if (this.leader !== leader || changed) this.followerLeaseUntil = NEVER;
    this.role = this.isArbiter ? 'arbiter' : 'follower';
    this.leader = leader;
    this.grants.clear();
    this.electionDeadline = this.now + this.electionTimeout();
    if (changed) this.persist();
    if (leader !== null && this.pending.length > 0) this.nextResend = this.now;
  }

  private startPreVote(): void {
    this.role = 'precandidate';
    this.leader = null;
    this.followerLeaseUntil = NEVER;
    this.preTerm = this.nextTerm(this.term);
    this.grants = new Set([this.self]);
    this.electionDeadline = this.now + this.electionTimeout();
    const msg: Message = { kind: 'prevote', term: this.preTerm, lastIndex: this.log.lastIndex, lastTerm: this.log.lastTerm };
    for (const v of this.voters) if (v !== this.self) this.send(v, msg);
    if (this.quorate(this.grants)) this.startElection();
  }

  private startElection(): void {
    this.term = this.nextTerm(this.term);
    this.votedFor = this.self;
    this.persist();
    this.role = 'candidate';
    this.grants = new Set([this.self]);
    this.peerReplies = new Set([this.self]);
    this.replyIncs.clear();
    this.electionDeadline = this.now + this.electionTimeout();
    const msg: Message = { kind: 'vote', term: this.term, lastIndex: this.log.lastIndex, lastTerm: this.log.lastTerm };
    for (const v of this.voters) if (v !== this.self) this.send(v, msg);
    if (this.quorate(this.grants)) this.becomeLeader();
  }

  /** Voters that answered the vote request of this term (and their incarnations): alive at election. */
  private peerReplies = new Set<NodeId>();
  private readonly replyIncs = new Map<NodeId, number>();

  private becomeLeader(): void {
    this.role = 'leader';
    this.leader = this.self;
    this.leaderSince = this.now;
    this.leaseUntil = NEVER;
    this.followerLeaseUntil = NEVER;
    this.rounds.clear();
    this.peers.clear();
    for (const v of this.voters) {
      if (v === this.self) continue;
      this.peers.set(v, {
        next: this.log.lastIndex + 1,
        match: 0,
        needSnapshot: false,
        lastAckAt: this.peerReplies.has(v) ? this.now : NEVER,
        ackedSentAt: NEVER,
        nonce: null,
        inc: this.replyIncs.get(v) ?? -1,
        groups: [],
        acked: false,
        sentCommit: 0,
        // Until it answers, assume it holds what we hold (Raft's nextIndex = last + 1).
        floor: this.log.lastIndex + 1,
        rejoin: false,
        lastRound: 0,
      });
    }
    this.memberEntriesThisTerm = 0;
    this.lmsSince = null;
    this.rebuildProposed();
    this.info(`node ${this.self} is leader of term ${this.term}`, { term: this.term });
    // The membership entry of the new term: the members that answered, and this node.
    const latest = this.latestMembership();
    const alive = latest.members.filter((n) => n !== this.self && this.peerReplies.has(n));
    alive.push(this.self);
    alive.sort((a, b) => a - b);
    this.appendMembership(alive, this.config.arbiter !== null && this.peerReplies.has(ARBITER_NODE_ID));
    this.firstIndexOfTerm = this.log.lastIndex;
    this.nextHeartbeat = this.now;
    if (this.pending.length > 0) this.acceptRequests(this.self, this.inc, this.pending);
  }

  private checkQuorum(): void {
    if (this.now - this.leaderSince < this.t.tokenMs) return;
    const alive = [this.self];
    for (const [v, p] of this.peers) if (p.lastAckAt >= this.now - this.t.tokenMs) alive.push(v);
    if (!this.quorate(alive)) {
      this.info(`leader of term ${this.term} lost contact with a quorate set of voters`, { alive });
      this.becomeFollower(this.term, null);
    }
  }

  // ------------------------------------------------------------------ sending

  private send(to: NodeId, message: Message): void {
    this.out.push({ type: 'send', to, message: message as unknown as EngineMessage });
  }

  /** One round of appends to every voter; a heartbeat round also resends what is unacknowledged. */
  private broadcast(heartbeat: boolean): void {
    const r = ++this.round;
    this.rounds.set(r, this.now);
    this.lastRoundAt = this.now;
    this.lastLeaderContact = this.now;
    while (this.rounds.size > ROUNDS_MAX) this.rounds.delete(this.rounds.keys().next().value as number);
    // A leader that is quorate on its own (two_node) holds its lease without answers.
    this.updateLease();
    // JSON has no -Infinity: no lease is sent as -1.
    const leaseMs = this.leaseUntil > this.now ? this.leaseUntil - this.now : -1;
    for (const [v, p] of this.peers) {
      if (heartbeat) p.next = Math.min(p.next, Math.max(p.match + 1, p.floor));
      if (v === ARBITER_NODE_ID) {
        // The arbiter keeps no entries: it takes the leader's (term, index) as its log.
        this.send(v, { kind: 'append', term: this.term, prevIndex: this.log.lastIndex, prevTerm: this.log.lastTerm, entries: [], commit: this.commit, round: r, echo: p.nonce, leaseMs });
        continue;
      }
      if (p.needSnapshot || p.next < this.log.start) {
        const snap = this.state.snapshot();
        this.send(v, { kind: 'snapshot', term: this.term, snap, round: r, echo: p.nonce, leaseMs });
        if (this.inMembership(this.latestMembership(), v, p.inc)) p.rejoin = true;
        p.needSnapshot = false;
        p.next = snap.lastIndex + 1;
        continue;
      }
      const entries = budgeted(this.log.slice(p.next, limits.entriesPerAppendMax), entryBytes);
      if (!heartbeat && entries.length === 0 && p.sentCommit >= this.commit) continue;
      const prevIndex = p.next - 1;
      this.send(v, { kind: 'append', term: this.term, prevIndex, prevTerm: this.log.termAt(prevIndex)!, entries, commit: this.commit, round: r, echo: p.nonce, leaseMs });
      p.next = prevIndex + entries.length + 1;
      p.sentCommit = this.commit;
    }
  }

  // ------------------------------------------------------------------ receiving

  private receive(from: unknown, raw: unknown): void {
    const parsed = parseMessage(raw, from, this.self, this.known);
    if (!parsed.ok) {
      this.out.push({ type: 'log', level: 'warn', msg: `dropped a message from node ${String(from)}: ${parsed.error}`, fields: { from } });
      return;
    }
    const m = parsed.message;
    const src = from as NodeId;
    switch (m.kind) {
      case 'prevote':
        return this.onPreVote(src, m);
      case 'prevote-reply':
        return this.onPreVoteReply(src, m);
      case 'vote':
        return this.onVote(src, m);
      case 'vote-reply':
        return this.onVoteReply(src, m);
      case 'append':
        return this.onAppend(src, m);
      case 'snapshot':
        return this.onSnapshot(src, m);
      case 'append-reply':
        return this.onAppendReply(src, m);
      case 'request':
        return this.onRequest(src, m);
    }
  }

  private lastLog(): { term: number; index: number } {
    return this.isArbiter ? this.arbLast : { term: this.log.lastTerm, index: this.log.lastIndex };
  }

  private upToDate(lastTerm: number, lastIndex: number): boolean {
    const mine = this.lastLog();
    return lastTerm > mine.term || (lastTerm === mine.term && lastIndex >= mine.index);
  }

  /** Leader stickiness: no (pre)vote while a live leader was heard within the token, nor while listening after a restart. */
  private sticky(): boolean {
    return this.now < this.listenUntil || this.now < this.lastLeaderContact + this.t.tokenMs;
  }

  private onPreVote(from: NodeId, m: Extract<Message, { kind: 'prevote' }>): void {
    const granted = !this.sticky() && m.term > this.term && this.upToDate(m.lastTerm, m.lastIndex);
    this.send(from, { kind: 'prevote-reply', term: m.term, granted, voterTerm: this.term });
  }

  private onPreVoteReply(from: NodeId, m: Extract<Message, { kind: 'prevote-reply' }>): void {
    // A voter with a higher term but an older log refuses us, and we refuse it: without
    // catching up on its term, neither could ever win.
    if (this.role === 'precandidate' && m.voterTerm > this.term) {
      this.becomeFollower(m.voterTerm, null);
      return;
    }
    if (this.role !== 'precandidate' || m.term !== this.preTerm || !m.granted) return;
    this.grants.add(from);
    if (this.quorate(this.grants)) this.startElection();
  }

  private onVote(from: NodeId, m: Extract<Message, { kind: 'vote' }>): void {
    if (m.term < this.term || this.sticky()) {
      // A candidate that a healthy leader's followers ignore does not move their term.
      this.send(from, { kind: 'vote-reply', term: this.term, granted: false, inc: this.inc });
      return;
    }
    if (m.term > this.term) this.becomeFollower(m.term, null);
    const granted = (this.votedFor === null || this.votedFor === from) && this.upToDate(m.lastTerm, m.lastIndex);
    if (granted) {
      this.votedFor = from;
      this.persist();
      this.electionDeadline = this.now + this.electionTimeout();
    }
    this.send(from, { kind: 'vote-reply', term: this.term, granted, inc: this.inc });
  }

  private onVoteReply(from: NodeId, m: Extract<Message, { kind: 'vote-reply' }>): void {
    if (m.term > this.term) {
      this.becomeFollower(m.term, null);
      return;
    }
    if (this.role !== 'candidate' || m.term !== this.term) return;
    this.peerReplies.add(from);
    this.replyIncs.set(from, m.inc);
    if (!m.granted) return;
    this.grants.add(from);
    if (this.quorate(this.grants)) this.becomeLeader();
  }

  /** Common to append and snapshot: term rules, leader contact, lease. False: rejected. */
  private fromLeader(from: NodeId, term: number, echo: number | null, leaseMs: number): boolean {
    if (term < this.term) return false;
    if (term > this.term || this.leader !== from || (this.role !== 'follower' && this.role !== 'arbiter')) {
      if (term === this.term && this.role === 'leader') {
        // Cannot happen with disjoint terms; never follow a second leader of our own term.
        this.warn(`node ${from} claims to lead term ${term}, which this node leads; ignored`);
        return false;
      }
      this.becomeFollower(term, from);
    }
    this.lastLeaderContact = this.now;
    this.electionDeadline = this.now + this.electionTimeout();
    if (echo !== null) {
      const sentAt = this.nonces.get(echo);
      if (sentAt !== undefined) this.followerLeaseUntil = Math.max(this.followerLeaseUntil, sentAt + leaseMs);
    }
    return true;
  }

  private reply(to: NodeId, round: number, ok: boolean, match: number, needSnapshot: boolean): void {
    const nonce = Math.floor(this.random() * 2 ** 48);
    this.nonces.set(nonce, this.now);
    if (this.nonces.size > NONCES_MAX) this.nonces.delete(this.nonces.keys().next().value as number);
    const rejoin = this.brokenRing !== null && this.brokenRing === this.emittedRing;
    this.send(to, { kind: 'append-reply', term: this.term, ok, match, needSnapshot, round, nonce, inc: this.inc, groups: [...this.localGroups], rejoin });
  }

  private onAppend(from: NodeId, m: Extract<Message, { kind: 'append' }>): void {
    if (!this.fromLeader(from, m.term, m.echo, m.leaseMs)) {
      this.reply(from, m.round, false, 0, false);
      return;
    }
    const lastIndex = m.prevIndex + m.entries.length;
    if (this.isArbiter) {
      const lastTerm = m.entries.length > 0 ? m.entries[m.entries.length - 1]!.term : m.prevTerm;
      const a = this.arbLast;
      if (lastTerm > a.term || (lastTerm === a.term && lastIndex > a.index)) this.arbLast = { term: lastTerm, index: lastIndex };
      this.reply(from, m.round, true, lastIndex, false);
      return;
    }
    const log = this.log;
    const applied = this.state.index;
    if (m.prevIndex > log.lastIndex) {
      this.reply(from, m.round, false, log.lastIndex, false);
      return;
    }
    if (m.prevIndex < applied) {
      // Entries up to the applied index are settled here; check from there on.
      const skip = applied - m.prevIndex;
      if (skip > m.entries.length) {
        this.reply(from, m.round, false, applied, false);
        return;
      }
      if (skip > 0 && m.entries[skip - 1]!.term !== log.termAt(applied)) {
        this.needSnapshot(from, m.round);
        return;
      }
      return this.acceptEntries(from, m, applied, m.entries.slice(skip));
    }
    const term = log.termAt(m.prevIndex);
    if (term !== m.prevTerm) {
      if (m.prevIndex <= applied) {
        this.needSnapshot(from, m.round);
        return;
      }
      // Skip back over the whole conflicting term in one go.
      let hint = m.prevIndex - 1;
      while (hint > applied && log.termAt(hint) === term) hint--;
      this.reply(from, m.round, false, hint, false);
      return;
    }
    this.acceptEntries(from, m, m.prevIndex, m.entries);
  }

  private needSnapshot(from: NodeId, round: number): void {
    this.awaitingSnapshot = true;
    this.reply(from, round, false, this.state.index, true);
  }

  private acceptEntries(from: NodeId, m: Extract<Message, { kind: 'append' }>, prevIndex: number, entries: Entry[]): void {
    const log = this.log;
    let index = prevIndex;
    for (const e of entries) {
      index++;
      if (index <= log.lastIndex) {
        if (log.termAt(index) === e.term) continue;
        if (index <= this.state.index) {
          this.needSnapshot(from, m.round);
          return;
        }
        log.truncateFrom(index);
      }
      log.append(e);
    }
    const commit = Math.min(m.commit, index);
    if (commit > this.commit) {
      this.commit = commit;
      this.applyCommitted();
    }
    this.reply(from, m.round, true, index, false);
    this.compact();
  }

  private onSnapshot(from: NodeId, m: Extract<Message, { kind: 'snapshot' }>): void {
    if (!this.fromLeader(from, m.term, m.echo, m.leaseMs)) {
      this.reply(from, m.round, false, 0, false);
      return;
    }
    const s = m.snap;
    if (this.isArbiter) {
      const a = this.arbLast;
      if (s.lastTerm > a.term || (s.lastTerm === a.term && s.lastIndex > a.index)) this.arbLast = { term: s.lastTerm, index: s.lastIndex };
      this.reply(from, m.round, true, s.lastIndex, false);
      return;
    }
    if (!this.awaitingSnapshot && this.log.termAt(s.lastIndex) === s.lastTerm) {
      // We hold that position already; the entries after it follow as appends.
      this.reply(from, m.round, true, s.lastIndex, false);
      return;
    }
    const newer = s.lastTerm > this.state.term || (s.lastTerm === this.state.term && s.lastIndex > this.state.index);
    if (!this.awaitingSnapshot && !newer) {
      this.reply(from, m.round, false, this.state.index, false);
      return;
    }
    this.install(s);
    this.reply(from, m.round, true, s.lastIndex, false);
  }

  private install(s: Snapshot): void {
    this.awaitingSnapshot = false;
    if (s.membership && ringKey(s.membership.rep, s.membership.ringSeq) === this.emittedRing && this.state.isMember(this.self, this.inc)) {
      // It may skip messages of the ring we are in; the leader moves us to a new ring.
      this.brokenRing = this.emittedRing;
    }
    this.state = AgreedState.fromSnapshot(s);
    this.log.reset(s.lastIndex, s.lastTerm);
    this.commit = s.lastIndex;
    if (!this.replaying()) {
      this.syncMembership('snapshot installed');
      this.syncGroups(null, true);
    }
    this.prunePending();
  }

  private onAppendReply(from: NodeId, m: Extract<Message, { kind: 'append-reply' }>): void {
    if (m.term > this.term) {
      this.becomeFollower(m.term, null);
      return;
    }
    if (this.role !== 'leader' || m.term !== this.term) return;
    const p = this.peers.get(from);
    if (!p) return;
    if (p.inc !== m.inc) {
      // A late answer of a dead incarnation replies to an older round than the live one
      // already answered: ignore it.
      if (m.round <= p.lastRound) return;
      // A restarted node: what it held before is gone.
      p.inc = m.inc;
      p.match = 0;
    }
    p.lastRound = Math.max(p.lastRound, m.round);
    p.lastAckAt = this.now;
    const sentAt = this.rounds.get(m.round);
    if (sentAt !== undefined) p.ackedSentAt = Math.max(p.ackedSentAt, sentAt);
    p.nonce = m.nonce;
    p.groups = m.groups;
    p.acked = true;
    if (m.rejoin && this.inMembership(this.latestMembership(), from, m.inc)) p.rejoin = true;
    if (m.ok) {
      if (m.match > this.log.lastIndex) {
        this.warn(`node ${from} acknowledged index ${m.match} beyond the leader's last ${this.log.lastIndex}; ignored`);
      } else {
        p.match = Math.max(p.match, m.match);
        p.next = Math.max(p.next, p.match + 1);
        p.floor = 0;
      }
    } else if (m.needSnapshot) {
      p.needSnapshot = true;
      p.match = 0;
      this.needBroadcast = true;
    } else if (m.match > this.log.lastIndex) {
      // It applied entries beyond this leader's log: another history (lost commits or a
      // two_node split). Only a snapshot brings it back.
      p.needSnapshot = true;
      p.match = 0;
      this.needBroadcast = true;
    } else {
      p.match = Math.min(p.match, m.match);
      p.next = Math.max(1, m.match + 1);
      p.floor = p.next;
      this.needBroadcast = true;
    }
    this.advanceCommit();
    this.updateLease();
  }

  private onRequest(from: NodeId, m: Extract<Message, { kind: 'request' }>): void {
    if (this.role !== 'leader' || m.term !== this.term) return;
    this.acceptRequests(from, m.inc, m.reqs);
  }

  // ------------------------------------------------------------------ leader duties

  private advanceCommit(): void {
    const candidates = new Set<number>([this.log.lastIndex]);
    for (const p of this.peers.values()) if (p.match > this.commit) candidates.add(p.match);
    const sorted = [...candidates].filter((i) => i > this.commit).sort((a, b) => b - a);
    for (const n of sorted) {
      // Only entries of the leader's own term are committed by counting (Raft §5.4.2).
      if (this.log.termAt(n) !== this.term) continue;
      const set = [this.self];
      for (const [v, p] of this.peers) if (p.match >= n) set.push(v);
      if (this.quorate(set)) {
        this.commit = n;
        this.applyCommitted();
        this.needBroadcast = true;
        return;
      }
    }
  }

  /**
   * The lease runs from the send time of the latest round that a quorate set acknowledged
   * (this node counts with its latest round): those voters grant no vote before they
   * have not heard from this leader for a whole token, later than this lease ends.
   */
  private updateLease(): void {
    const times: [NodeId, number][] = [[this.self, this.lastRoundAt]];
    for (const [v, p] of this.peers) if (p.ackedSentAt > NEVER) times.push([v, p.ackedSentAt]);
    times.sort((a, b) => b[1] - a[1]);
    const set: NodeId[] = [];
    for (const [v, at] of times) {
      set.push(v);
      if (this.quorate(set)) {
        this.leaseUntil = Math.max(this.leaseUntil, at + this.t.leaseMs);
        return;
      }
    }
  }

  private maintainMembership(): void {
    if (this.pendingConfigIndex() > 0) return;
    const latest = this.latestMembership();
    const horizon = this.now - this.t.tokenMs;
    const alive = [this.self];
    for (const [v, p] of this.peers) {
      if (v === ARBITER_NODE_ID || p.lastAckAt < horizon || p.inc < 0 || p.rejoin) continue;
      // A node outside the membership joins once it has acknowledged (so its groups are known).
      if (!p.acked && !this.inMembership(latest, v, p.inc)) continue;
      alive.push(v);
    }
    alive.sort((a, b) => a - b);
    const incs = alive.map((v) => this.incOf(v));
    const arb = this.peers.get(ARBITER_NODE_ID);
    const arbiterAlive = arb !== undefined && arb.lastAckAt >= horizon;
    if (sameList(alive, latest.members) && sameList(incs, latest.incs) && arbiterAlive === latest.arbiter) return;
    this.appendMembership(alive, arbiterAlive);
    for (const p of this.peers.values()) p.rejoin = false;
  }

  private incOf(node: NodeId): number {
    return node === this.self ? this.inc : (this.peers.get(node)?.inc ?? -1);
  }

  private inMembership(m: { members: NodeId[]; incs: number[] }, node: NodeId, inc: number): boolean {
    const at = m.members.indexOf(node);
    return at >= 0 && m.incs[at] === inc;
  }

  private appendMembership(members: NodeId[], arbiter: boolean): void {
    if (this.memberEntriesThisTerm >= RING_SEQ_PER_TERM - 1) {
      this.warn(`term ${this.term} used up its ring ids; stepping down`);
      this.becomeFollower(this.term, null);
      return;
    }
    const latest = this.latestMembership();
    const incs = members.map((n) => this.incOf(n));
    const { status, agreed } = this.rule.membershipQuorum(members, arbiter, this.latestQuorum());
    const nodeGroups = members
      .filter((n, i) => !this.inMembership(latest, n, incs[i]!))
      .map((n) => ({ node: n, groups: n === this.self ? [...this.localGroups] : [...(this.peers.get(n)?.groups ?? [])] }));
    const entry: MemberEntry = {
      k: 'member',
      term: this.term,
      rep: this.self,
      ringSeq: this.term * RING_SEQ_PER_TERM + this.memberEntriesThisTerm++,
      members,
      incs,
      arbiter,
      quorum: agreed,
      status,
      nodeGroups,
    };
    this.log.append(entry);
    this.lmsSince = null;
    this.needBroadcast = true;
    this.advanceCommit();
  }

  /** last_man_standing: lower expected votes once a smaller membership stayed quorate for the window. */
  private lastManStanding(): void {
    if (!this.rule.lastManStanding || this.pendingConfigIndex() > 0) return;
    const m = this.state.membership;
    const s = this.state.status;
    if (!m || !s || !s.quorate || m.term !== this.term || this.latestMembership().index !== 0) {
      this.lmsSince = null;
      return;
    }
    const votes = this.rule.membershipVotes(m.members, m.arbiter);
    if (votes >= this.state.quorum.carry.expectedVotes) {
      this.lmsSince = null;
      return;
    }
    if (this.lmsSince === null) this.lmsSince = this.now;
    if (this.now - this.lmsSince < this.rule.rules.lastManStandingWindowMs) return;
    const { status, agreed } = this.rule.lowered(m.members, m.arbiter, this.state.quorum);
    this.log.append({ k: 'quorum', term: this.term, quorum: agreed, status });
    this.info(`last_man_standing: expected votes lowered to ${status.expectedVotes}`, { members: m.members });
    this.lmsSince = null;
    this.needBroadcast = true;
    this.advanceCommit();
  }

  private compact(): void {
    const applied = this.state.index;
    if (applied - this.log.start + 1 <= logSlackEntries) return;
    let upTo = applied - logSlackEntries;
    if (this.role === 'leader') {
      // Keep what current members still need, unless the log grows beyond its bound.
      const members = this.state.membership?.members ?? [];
      for (const [v, p] of this.peers) if (members.includes(v) && v !== ARBITER_NODE_ID) upTo = Math.min(upTo, p.match);
      if (this.log.length > logEntriesMax) upTo = Math.max(upTo, applied - logSlackEntries);
    }
    if (upTo >= this.log.start) this.log.compactTo(upTo);
  }

  private rebuildProposed(): void {
    this.proposed.clear();
    for (const [n, l] of this.state.requests) this.proposed.set(n, l.map(([i, s]) => [i, s]));
    for (let i = this.state.index + 1; i <= this.log.lastIndex; i++) {
      const e = this.log.at(i);
      if (e.k === 'req') this.noteProposed(e.node, e.inc, e.seq);
    }
  }

  private proposedSeq(node: NodeId, inc: number): number {
    return this.proposed.get(node)?.find(([i]) => i === inc)?.[1] ?? 0;
  }

  private noteProposed(node: NodeId, inc: number, seq: number): void {
    let list = this.proposed.get(node);
    if (!list) this.proposed.set(node, (list = []));
    const at = list.findIndex(([i]) => i === inc);
    if (at >= 0) {
      if (list[at]![1] >= seq) return;
      list.splice(at, 1);
    }
    list.push([inc, seq]);
    if (list.length > limits.incarnationsMax) list.shift();
  }

  private acceptRequests(node: NodeId, inc: number, reqs: readonly GroupRequest[]): void {
    if (!this.inMembership(this.latestMembership(), node, inc)) return; // retried once it is a member
    if (this.log.lastIndex - this.commit > uncommittedMax) return;
    const sorted = [...reqs].sort((a, b) => a.seq - b.seq);
    for (const r of sorted) {
      if (r.seq <= this.proposedSeq(node, inc)) continue;
      this.log.append({ k: 'req', term: this.term, node, inc, seq: r.seq, op: r.op, group: r.group, payload: r.payload });
      this.noteProposed(node, inc, r.seq);
      this.needBroadcast = true;
    }
    this.advanceCommit();
  }

  // ------------------------------------------------------------------ local group calls

  private groupCall(op: GroupRequest['op'], groupArg: unknown, payloadArg: unknown): void {
    const call = op === 'msg' ? 'group-send' : `group-${op}`;
    if (this.isArbiter) return this.error(`${call}: the arbiter has no process groups`);
    const nameProblem = groupNameProblem(groupArg);
    if (nameProblem) return this.error(`${call}: ${nameProblem}`);
    const group = groupArg as string;
    const payloadTrouble = payloadProblem(payloadArg);
    if (payloadTrouble) return this.error(`${call} ${group}: ${payloadTrouble}`);
    const payload = payloadArg as string;
    if (op === 'join') {
      if (this.localGroups.has(group)) return this.error(`group-join ${group}: already joined (CS_ERR_EXIST)`);
      if (this.localGroups.size >= limits.groupsPerNodeMax) return this.error(`group-join ${group}: this node is already in ${limits.groupsPerNodeMax} groups`);
      this.localGroups.add(group);
    } else if (!this.localGroups.has(group)) {
      return this.error(`${call} ${group}: not joined (CS_ERR_NOT_EXIST)`);
    } else if (op === 'leave') {
      this.localGroups.delete(group);
    }
    if (this.pending.length >= pendingRequestsMax) return this.error(`${call} ${group}: ${pendingRequestsMax} calls are waiting for a leader; try again (CS_ERR_TRY_AGAIN)`);
    this.pending.push({ seq: ++this.reqSeq, op, group, payload });
    if (this.role === 'leader') this.acceptRequests(this.self, this.inc, this.pending.slice(-1));
    else this.nextResend = this.now;
  }

  private sendPending(): void {
    this.nextResend = this.now + this.t.heartbeatMs;
    if (this.leader === null || this.leader === this.self) return;
    const reqs = budgeted(this.pending.slice(0, limits.requestsPerMessageMax), requestBytes);
    this.send(this.leader, { kind: 'request', term: this.term, inc: this.inc, reqs });
  }

  private prunePending(): void {
    const done = this.state.appliedSeq(this.self, this.inc);
    if (this.pending.length > 0 && this.pending[0]!.seq <= done) this.pending = this.pending.filter((r) => r.seq > done);
    if (this.pending.length === 0) this.nextResend = Infinity;
  }

  // ------------------------------------------------------------------ applying

  private applyCommitted(): void {
    if (this.isArbiter) return;
    while (this.state.index < this.commit) {
      const index = this.state.index + 1;
      const e = this.log.at(index);
      const prev = this.state.membership;
      const change = this.state.apply(e, index);
      this.effectsOf(change, prev);
    }
    this.prunePending();
  }

  /**
   * After a snapshot from a leader that lost commits (volatile logs), a node can re-apply
   * history it already told its application: rings older than the last it announced are
   * applied silently, and in that ring only messages past the last delivered seq count.
   */
  private replaying(): boolean {
    const m = this.state.membership;
    return m !== null && m.ringSeq < this.emittedRingSeq;
  }

  private effectsOf(change: Change, prev: AgreedState['membership']): void {
    if (this.replaying()) return;
    switch (change.k) {
      case 'membership': {
        const m = this.state.membership!;
        const reason = !prev || prev.term !== m.term || prev.rep !== m.rep ? 'leader elected' : 'membership changed';
        this.syncMembership(reason);
        this.syncGroups(change.groups, true);
        return;
      }
      case 'group':
        this.syncGroups(new Map([[change.group, change.delta]]), false);
        return;
      case 'refused':
        if (change.node === this.self) this.error(`group-join ${change.group}: refused, ${change.why} (CS_ERR_NO_RESOURCES)`);
        return;
      case 'deliver': {
        const m = this.state.membership!;
        if (!this.state.isMember(this.self, this.inc) || !this.state.groups.get(change.group)?.includes(this.self)) return;
        if (ringKey(m.rep, m.ringSeq) !== this.emittedRing || this.emittedRing === this.brokenRing) return;
        if (change.seq <= (this.ringDelivered.get(change.group) ?? 0)) return;
        this.ringDelivered.set(change.group, change.seq);
        // A history that lost commits (volatile logs) may commit a resent message again:
        // this node delivers each message of a sender incarnation once.
        if (!this.firstDelivery(change.from, change.inc, change.reqSeq)) return;
        this.out.push({ type: 'deliver', group: change.group, from: change.from, payload: change.payload, seq: change.seq, ringId: { rep: m.rep, seq: m.ringSeq } });
        return;
      }
      default:
        return;
    }
  }

  private readonly deliveredReqs = new Map<NodeId, [number, number][]>();

  private firstDelivery(node: NodeId, inc: number, seq: number): boolean {
    let list = this.deliveredReqs.get(node);
    if (!list) this.deliveredReqs.set(node, (list = []));
    const at = list.findIndex(([i]) => i === inc);
    if (at >= 0 && list[at]![1] >= seq) return false;
    if (at >= 0) list.splice(at, 1);
    list.push([inc, seq]);
    if (list.length > limits.incarnationsMax) list.shift();
    return true;
  }

  /** Tell the application about the agreed membership if it concerns this node. */
  private syncMembership(reason: string): void {
    const m = this.state.membership;
    if (!m) return;
    const selfIn = this.state.isMember(this.self, this.inc);
    if (!selfIn && !this.emittedMembers.includes(this.self)) return;
    const key = ringKey(m.rep, m.ringSeq);
    if (key === this.emittedRing) return;
    const was = new Map(this.emittedMembers.map((n, i) => [n, this.emittedIncs[i]]));
    const now = new Map(m.members.map((n, i) => [n, m.incs[i]]));
    // A node that came back as a new incarnation both left and joined.
    const joined = m.members.filter((n) => was.get(n) !== now.get(n));
    const left = this.emittedMembers.filter((n) => was.get(n) !== now.get(n));
    const membership: Membership = { ringId: { rep: m.rep, seq: m.ringSeq }, members: [...m.members], arbiterPresent: m.arbiter };
    this.out.push({ type: 'membership', membership, joined, left, reason: selfIn ? reason : 'this node left the membership' });
    this.emittedRing = key;
    this.emittedRingSeq = m.ringSeq;
    this.ringDelivered.clear();
    this.emittedMembers = selfIn ? [...m.members] : m.members.filter((n) => n !== this.self);
    this.emittedIncs = selfIn ? [...m.incs] : m.incs.filter((_, i) => m.members[i] !== this.self);
  }

  /**
   * Bring the application's view of its groups in line with the agreed state; `hints`
   * give the reasons of this change, `all` checks every group (after a rejoin or snapshot).
   */
  private syncGroups(hints: Map<string, GroupDelta> | null, all: boolean): void {
    const selfIn = this.state.isMember(this.self, this.inc);
    const names = new Set<string>(this.emittedGroups.keys());
    if (hints) for (const g of hints.keys()) names.add(g);
    if (all && selfIn) for (const [g, members] of this.state.groups) if (members.includes(this.self)) names.add(g);
    for (const g of names) {
      const agreed = this.state.groups.get(g) ?? [];
      const visible = selfIn && agreed.includes(this.self) ? agreed : null;
      const before = this.emittedGroups.get(g) ?? null;
      if (visible === null && before === null) continue;
      const hint = hints?.get(g);
      const reasonOf = (list: 'joined' | 'left', node: NodeId, fallback: GroupChangeReason): GroupChangeReason =>
        hint?.[list].find((x) => x.node === node)?.reason ?? fallback;
      let joined: { node: NodeId; reason: GroupChangeReason }[];
      let left: { node: NodeId; reason: GroupChangeReason }[];
      let members: NodeId[];
      if (before === null) {
        members = [...visible!];
        joined = [{ node: this.self, reason: reasonOf('joined', this.self, 'nodeup') }];
        left = [];
      } else if (visible === null) {
        members = selfIn ? [...agreed] : [];
        joined = [];
        left = [{ node: this.self, reason: reasonOf('left', this.self, 'nodedown') }];
      } else {
        members = [...visible];
        joined = visible.filter((n) => !before.includes(n)).map((n) => ({ node: n, reason: reasonOf('joined', n, 'nodeup') }));
        left = before.filter((n) => !visible.includes(n)).map((n) => ({ node: n, reason: reasonOf('left', n, 'nodedown') }));
        if (joined.length === 0 && left.length === 0) continue;
      }
      this.out.push({ type: 'group-change', group: g, members, joined, left });
      if (visible === null) this.emittedGroups.delete(g);
      else this.emittedGroups.set(g, [...visible]);
    }
  }

  // ------------------------------------------------------------------ logging

  private info(msg: string, fields?: Record<string, unknown>): void {
    this.out.push(fields ? { type: 'log', level: 'info', msg, fields } : { type: 'log', level: 'info', msg });
  }

  private warn(msg: string): void {
    this.out.push({ type: 'log', level: 'warn', msg });
  }

  private error(msg: string): void {
    this.out.push({ type: 'log', level: 'error', msg });
  }
}
