// The rules of corosync's votequorum (exec/votequorum.c, man votequorum.5), pure:
// membership, time and the peers' announcements come in as arguments.
//
// Two layers:
//  - calculateQuorum / isQuorateSet: the arithmetic over one membership and the carried
//    state (what the cluster engine needs to decide elections and leader quorum);
//  - class Votequorum: one node's view evolving over membership changes and time, with
//    votequorum's node table, announcements (nodeinfo) and last_man_standing timer, so
//    that it can be checked step by step against corosync-vqsim.
// Where we differ from corosync, and why: docs/quorum.md.
//
// two_node without an arbiter makes BOTH halves of a 2-node split quorate (quorum is 1
// while at most two nodes are present): safety then rests on fencing the peer.

import type { AutoTieBreakerNode, ClusterConfig, NodeId, QuorumOptions, QuorumStatus } from './types.js';

/** The part of the cluster configuration the quorum rules read. */
export interface QuorumConfig {
  nodes: { nodeId: NodeId; votes: number }[];
  options: QuorumOptions;
  /** The arbiter (quorum device) and its votes, or null when none is configured. */
  arbiter: { votes: number } | null;
}

export const quorumConfigOf = (config: ClusterConfig): QuorumConfig => ({
  nodes: config.nodes.map((n) => ({ nodeId: n.nodeId, votes: n.votes })),
  options: config.quorum,
  arbiter: config.arbiter ? { votes: config.arbiter.votes } : null,
});

/** The rules in force after votequorum's compatibility checks. */
export interface QuorumRules {
  twoNode: boolean;
  waitForAll: boolean;
  lastManStanding: boolean;
  lastManStandingWindowMs: number;
  /** null when auto_tie_breaker is off (or was switched off by a compatibility rule). */
  autoTieBreaker: AutoTieBreakerNode | null;
  /** Expected votes at start: quorum.expected_votes, else the sum of the nodelist's votes. */
  expectedVotes: number;
  arbiterVotes: number;
}

export interface QuorumRulesCheck {
  rules: QuorumRules;
  /** Features switched off, as corosync does, with the reason. */
  warnings: string[];
  /** Combinations corosync refuses to start with. */
  errors: string[];
}

export class QuorumConfigError extends Error {
  readonly code = 'QUORUM_CONFIG';
  constructor(readonly problems: string[]) {
    super(`quorum configuration refused: ${problems.join('; ')}`);
  }
}

const isVoteCount = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

function checkShape(config: QuorumConfig, errors: string[], warnings: string[]): void {
  const seen = new Set<NodeId>();
  for (const n of config.nodes) {
    if (!Number.isInteger(n.nodeId) || n.nodeId <= 0) errors.push(`nodeid ${n.nodeId}: expected an integer above 0`);
    if (seen.has(n.nodeId)) errors.push(`nodeid ${n.nodeId} appears twice in the nodelist`);
    seen.add(n.nodeId);
    if (!isVoteCount(n.votes)) errors.push(`node ${n.nodeId}: quorum_votes ${n.votes} is not a vote count (integer >= 0)`);
  }
  const o = config.options;
  if (config.nodes.length === 0 && o.expectedVotes === null) {
    errors.push('nodelist or quorum.expected_votes must be configured');
  }
  if (o.expectedVotes !== null && (!Number.isInteger(o.expectedVotes) || o.expectedVotes < 1)) {
    errors.push(`quorum.expected_votes ${o.expectedVotes}: expected an integer >= 1`);
  }
  if (!Number.isInteger(o.lastManStandingWindowMs) || o.lastManStandingWindowMs < 0) {
    errors.push(`quorum.last_man_standing_window ${o.lastManStandingWindowMs}: expected milliseconds >= 0`);
  }
  if (config.arbiter && (!Number.isInteger(config.arbiter.votes) || config.arbiter.votes < 1)) {
    errors.push(`quorum.device.votes ${config.arbiter.votes}: expected an integer >= 1`);
  }
  if (Array.isArray(o.autoTieBreakerNode)) {
    if (o.autoTieBreakerNode.length === 0) errors.push('quorum.auto_tie_breaker_node: the list of node ids is empty');
    for (const id of o.autoTieBreakerNode) {
      if (!seen.has(id)) warnings.push(`quorum.auto_tie_breaker_node: node ${id} is not in the nodelist`);
    }
  }
}

/** votequorum's readconfig checks: refuse what corosync refuses, switch off what it switches off. */
export function quorumRules(config: QuorumConfig): QuorumRulesCheck {
  const errors: string[] = [];
  const warnings: string[] = [];
  checkShape(config, errors, warnings);
  const o = config.options;
  const nodelistVotes = config.nodes.reduce((sum, n) => sum + n.votes, 0);
  const arbiterVotes = config.arbiter?.votes ?? 0;
  let twoNode = o.twoNode;
  let autoTieBreaker: AutoTieBreakerNode | null = o.autoTieBreaker ? o.autoTieBreakerNode : null;

  if (twoNode && config.arbiter) errors.push('two_node and a quorum device cannot be configured at the same time');
  if (twoNode && autoTieBreaker !== null) {
    warnings.push('two_node and auto_tie_breaker are not compatible: two_node has been disabled');
    twoNode = false;
  }
  if (autoTieBreaker !== null && nodelistVotes % 2 === 1 && !o.waitForAll) {
    if (o.lastManStanding) {
      errors.push(`auto_tie_breaker and last_man_standing need wait_for_all with an odd number of votes (${nodelistVotes})`);
    } else {
      warnings.push(`auto_tie_breaker needs wait_for_all with an odd number of votes (${nodelistVotes}): auto_tie_breaker has been disabled`);
      autoTieBreaker = null;
    }
  }
  if (config.arbiter && o.lastManStanding) errors.push('a quorum device is not compatible with last_man_standing');
  if (config.arbiter && autoTieBreaker !== null) errors.push('a quorum device is not compatible with auto_tie_breaker');
  if (config.arbiter && o.expectedVotes !== null && o.expectedVotes - arbiterVotes < 2) {
    errors.push(`quorum.device.votes (${arbiterVotes}) is too high or quorum.expected_votes (${o.expectedVotes}) is too low`);
  }
  return {
    rules: {
      twoNode,
      waitForAll: o.waitForAll,
      lastManStanding: o.lastManStanding,
      lastManStandingWindowMs: o.lastManStandingWindowMs,
      autoTieBreaker,
      expectedVotes: o.expectedVotes ?? nodelistVotes,
      arbiterVotes,
    },
    warnings,
    errors,
  };
}

// ---------------------------------------------------------------------------
// The arithmetic

/** floor(E/2) + 1: "taken from the OpenVMS Cluster Systems manual". */
export const majorityOf = (votes: number): number => Math.floor((votes + 2) / 2);

/** What carries over from one membership to the next. */
export interface QuorumCarry {
  /** This node's expected votes: the highest seen, or what last_man_standing lowered it to. */
  expectedVotes: number;
  /** The previous threshold; quorum never drops by itself (0 before the first calculation). */
  quorum: number;
  /** wait_for_all is still waiting to see all expected votes at once. */
  waitForAllPending: boolean;
  /** The membership before this one (auto_tie_breaker's "other half" checks). */
  previousMembers: NodeId[];
  /** Lowest and highest node id of the last membership that had quorum by votes. */
  tieBreakerLowest: NodeId | null;
  tieBreakerHighest: NodeId | null;
}

export interface QuorumInput {
  config: QuorumConfig;
  members: NodeId[];
  arbiterPresent: boolean;
  carry: QuorumCarry;
}

/** The carry of a node that has just started. */
export function initialCarry(config: QuorumConfig): QuorumCarry {
  const { rules } = quorumRules(config);
  return {
    expectedVotes: rules.expectedVotes,
    quorum: 0,
    waitForAllPending: rules.waitForAll,
    previousMembers: [],
    tieBreakerLowest: null,
    tieBreakerHighest: null,
  };
}

/** Threshold for a membership: max(E/2+1, total/2+1), never below `floor`; 1 under two_node with at most two voters present. */
function threshold(rules: QuorumRules, highestExpected: number, totalVotes: number, voters: number, floor: number): number {
  if (rules.twoNode && voters <= 2) return 1;
  return Math.max(floor, majorityOf(highestExpected), majorityOf(totalVotes));
}

interface TieBreakerView {
  members: NodeId[];
  previousMembers: NodeId[];
  /** Votes of the previous members missing from this membership: the most the other side can have. */
  departedVotes: number;
  lowest: NodeId | null;
  highest: NodeId | null;
}

function departedVotes(config: QuorumConfig, members: NodeId[], previousMembers: NodeId[]): number {
  return previousMembers.filter((id) => !members.includes(id)).reduce((sum, id) => sum + votesOf(config, id), 0);
}

/** Which half of an exact split keeps quorum: the one holding the tie-breaker node. */
function tieBreakerHeld(atb: AutoTieBreakerNode, v: TieBreakerView): boolean {
  if (atb === 'lowest') return v.lowest !== null && v.members.includes(v.lowest);
  if (atb === 'highest') return v.highest !== null && v.members.includes(v.highest);
  // A listed node counts only if no node listed before it was in the previous
  // membership: that one may be alive in the other half.
  for (let i = 0; i < atb.length; i++) {
    if (!v.members.includes(atb[i]!)) continue;
    return !atb.slice(0, i).some((id) => v.previousMembers.includes(id));
  }
  return false;
}

/**
 * auto_tie_breaker applies to an exact half (or half-1 with odd E) when the other side cannot
 * have quorum. Corosync compares the NUMBER of departed nodes with the quorum (in votes); we
 * compare their votes. Same with one vote per node; with weighted votes corosync can make
 * both sides quorate (measured with vqsim, see docs/quorum.md), we cannot.
 */
function tieBreakerGrants(rules: QuorumRules, totalVotes: number, expectedVotes: number, quorum: number, v: TieBreakerView): boolean {
  return (
    rules.autoTieBreaker !== null &&
    totalVotes === Math.floor(expectedVotes / 2) &&
    v.departedVotes < quorum &&
    tieBreakerHeld(rules.autoTieBreaker, v)
  );
}

function flagsOf(rules: QuorumRules, quorate: boolean, lastManStanding: boolean, arbiterConfigured: boolean): string[] {
  const flags: string[] = [];
  if (rules.twoNode) flags.push('2Node');
  if (quorate) flags.push('Quorate');
  if (rules.waitForAll) flags.push('WaitForAll');
  if (lastManStanding) flags.push('LastManStanding');
  if (rules.autoTieBreaker !== null) flags.push('AutoTieBreaker');
  // AllowDownscale has its place between these two; we do not implement it.
  if (arbiterConfigured) flags.push('Qdevice');
  return flags;
}

function votesOf(config: QuorumConfig, id: NodeId): number {
  const node = config.nodes.find((n) => n.nodeId === id);
  if (!node) {
    throw new RangeError(`node ${id} is not in the nodelist (known: ${config.nodes.map((n) => n.nodeId).join(', ') || 'none'})`);
  }
  return node.votes;
}

function normalizeMembers(members: NodeId[]): NodeId[] {
  const sorted = [...members].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1]) throw new RangeError(`membership lists node ${sorted[i]} twice`);
  }
  return sorted;
}

function checkedRules(config: QuorumConfig): QuorumRules {
  const check = quorumRules(config);
  if (check.errors.length > 0) throw new QuorumConfigError(check.errors);
  return check.rules;
}

/**
 * One membership's quorum from the carried state: what a node reports once every member has
 * announced itself with the configured votes (no member brings a lowered expected_votes).
 */
export function quorumStep(input: QuorumInput): { status: QuorumStatus; carry: QuorumCarry } {
  const { config, carry } = input;
  const rules = checkedRules(config);
  const members = normalizeMembers(input.members);
  const memberVotes = members.reduce((sum, id) => sum + votesOf(config, id), 0);
  const arbiterCounts = input.arbiterPresent && rules.arbiterVotes > 0;
  const totalVotes = memberVotes + (arbiterCounts ? rules.arbiterVotes : 0);
  // Like corosync, a configured device's votes raise expected votes even while it is silent.
  const expectedVotes = Math.max(carry.expectedVotes, memberVotes + rules.arbiterVotes);
  const quorum = threshold(rules, expectedVotes, totalVotes, members.length + (arbiterCounts ? 1 : 0), carry.quorum);
  const next: QuorumCarry = { ...carry, expectedVotes, quorum, previousMembers: members };
  let quorate = false;
  if (rules.waitForAll && carry.waitForAllPending && totalVotes !== expectedVotes) {
    next.waitForAllPending = true;
  } else {
    quorate = quorum <= totalVotes;
    if (quorate && members.length > 0) {
      next.tieBreakerLowest = members[0]!;
      next.tieBreakerHighest = members[members.length - 1]!;
    }
    const view = {
      members,
      previousMembers: carry.previousMembers,
      departedVotes: departedVotes(config, members, carry.previousMembers),
      lowest: next.tieBreakerLowest,
      highest: next.tieBreakerHighest,
    };
    if (!quorate && tieBreakerGrants(rules, totalVotes, expectedVotes, quorum, view)) quorate = true;
    next.waitForAllPending = rules.waitForAll && !quorate;
  }
  const status: QuorumStatus = {
    quorate,
    quorum,
    expectedVotes,
    highestExpected: expectedVotes,
    totalVotes,
    flags: flagsOf(rules, quorate, rules.lastManStanding, config.arbiter !== null),
  };
  return { status, carry: next };
}

/** The quorum status of a membership given the carried state (see quorumStep). */
export const calculateQuorum = (input: QuorumInput): QuorumStatus => quorumStep(input).status;

/**
 * Would this set of nodes (plus the arbiter when present) hold quorum by votes and
 * tie-breaker? wait_for_all is ignored: it only gates the reported quorate flag.
 * Used by the engine to decide whether an election was won and whether a leader still has
 * quorum. With two_node and no arbiter, two disjoint single nodes are BOTH quorate, as in
 * corosync: such clusters must fence.
 */
export function isQuorateSet(config: QuorumConfig, members: NodeId[], arbiterPresent: boolean, carry: QuorumCarry): boolean {
  const rules = checkedRules(config);
  const set = normalizeMembers(members);
  const arbiterCounts = arbiterPresent && rules.arbiterVotes > 0;
  const memberVotes = set.reduce((sum, id) => sum + votesOf(config, id), 0);
  const totalVotes = memberVotes + (arbiterCounts ? rules.arbiterVotes : 0);
  const expectedVotes = Math.max(carry.expectedVotes, memberVotes + rules.arbiterVotes);
  const quorum = threshold(rules, expectedVotes, totalVotes, set.length + (arbiterCounts ? 1 : 0), 0);
  if (quorum <= totalVotes) return true;
  const view = {
    members: set,
    previousMembers: carry.previousMembers,
    departedVotes: departedVotes(config, set, carry.previousMembers),
    lowest: carry.tieBreakerLowest,
    highest: carry.tieBreakerHighest,
  };
  return tieBreakerGrants(rules, totalVotes, expectedVotes, quorum, view);
}

// ---------------------------------------------------------------------------
// One node's view over time

/** What a node announces to the members of a new membership (votequorum's nodeinfo message). */
export interface NodeInfo {
  nodeId: NodeId;
  votes: number;
  expectedVotes: number;
  /** The sender's quorate flag as it was when it sent this (i.e. in the previous membership). */
  quorate: boolean;
  /** The sender's wait_for_all is still pending. */
  waitForAll: boolean;
}

/** A peer as this node last heard of it. */
export interface PeerRecord {
  nodeId: NodeId;
  votes: number;
  expectedVotes: number;
  member: boolean;
  quorate: boolean;
  waitForAll: boolean;
}

/** Everything a Votequorum carries; plain JSON, so that the engine can replicate it. */
export interface VotequorumState extends QuorumCarry {
  version: 1;
  self: NodeId;
  quorate: boolean;
  /** Switched off for good once a member with more than one vote is seen, as in corosync. */
  lastManStanding: boolean;
  members: NodeId[];
  arbiterPresent: boolean;
  /** When last_man_standing_window expires, or null when not running. */
  lastManStandingDeadline: number | null;
  peers: PeerRecord[];
}

const isIdList = (v: unknown): v is NodeId[] => Array.isArray(v) && v.every((x) => Number.isInteger(x));
const isIdOrNull = (v: unknown): boolean => v === null || Number.isInteger(v);

/** Check a state read back from a log or a file; the message says which field is wrong. */
export function parseVotequorumState(value: unknown): VotequorumState {
  const problems: string[] = [];
  const s = value as Record<string, unknown>;
  if (typeof value !== 'object' || value === null) throw new TypeError('votequorum state: expected an object');
  const want = (ok: boolean, field: string, expected: string): void => {
    if (!ok) problems.push(`${field}: expected ${expected}, got ${JSON.stringify(s[field])}`);
  };
  want(s.version === 1, 'version', '1');
  for (const f of ['self', 'expectedVotes', 'quorum']) want(Number.isInteger(s[f]) && (s[f] as number) >= 0, f, 'an integer >= 0');
  for (const f of ['quorate', 'waitForAllPending', 'lastManStanding', 'arbiterPresent']) want(typeof s[f] === 'boolean', f, 'a boolean');
  for (const f of ['members', 'previousMembers']) want(isIdList(s[f]), f, 'a list of node ids');
  for (const f of ['tieBreakerLowest', 'tieBreakerHighest']) want(isIdOrNull(s[f]), f, 'a node id or null');
  want(s.lastManStandingDeadline === null || typeof s.lastManStandingDeadline === 'number', 'lastManStandingDeadline', 'a time or null');
  const peersOk =
    Array.isArray(s.peers) &&
    s.peers.every((p: Record<string, unknown>) =>
      ['nodeId', 'votes', 'expectedVotes'].every((k) => Number.isInteger(p?.[k])) &&
      ['member', 'quorate', 'waitForAll'].every((k) => typeof p?.[k] === 'boolean'),
    );
  want(peersOk, 'peers', 'a list of {nodeId, votes, expectedVotes, member, quorate, waitForAll}');
  if (problems.length > 0) throw new TypeError(`votequorum state: ${problems.join('; ')}`);
  return structuredClone(value as VotequorumState);
}

/**
 * One node of votequorum. Feed it every agreed membership with the announcements of the
 * other members (NodeInfo from their own trackers, taken before the change, as corosync
 * exchanges them during sync), the arbiter's presence, and ticks for
 * last_man_standing_window (nextDeadline() says when).
 */
export class Votequorum {
  private readonly config: QuorumConfig;
  private readonly rules: QuorumRules;
  private readonly selfVotes: number;
  private s: VotequorumState;

  constructor(config: QuorumConfig, self: NodeId, state?: VotequorumState) {
    this.config = config;
    this.rules = checkedRules(config);
    this.selfVotes = votesOf(config, self);
    if (state) {
      const copy = parseVotequorumState(state);
      if (copy.self !== self) throw new RangeError(`votequorum state belongs to node ${copy.self}, not ${self}`);
      this.s = copy;
      return;
    }
    const carry = initialCarry(config);
    this.s = {
      version: 1,
      self,
      ...carry,
      quorate: false,
      lastManStanding: this.rules.lastManStanding,
      members: [],
      arbiterPresent: false,
      lastManStandingDeadline: null,
      peers: [],
    };
    this.recalculate(false, false);
  }

  state(): VotequorumState {
    return structuredClone(this.s);
  }

  /** The carry to judge the next membership with (calculateQuorum, isQuorateSet): this one becomes the previous. */
  carry(): QuorumCarry {
    const s = this.s;
    return {
      expectedVotes: s.expectedVotes,
      quorum: s.quorum,
      waitForAllPending: s.waitForAllPending,
      previousMembers: [...s.members],
      tieBreakerLowest: s.tieBreakerLowest,
      tieBreakerHighest: s.tieBreakerHighest,
    };
  }

  /** What this node announces when a membership forms. */
  nodeInfo(): NodeInfo {
    return {
      nodeId: this.s.self,
      votes: this.selfVotes,
      expectedVotes: this.s.expectedVotes,
      quorate: this.s.quorate,
      waitForAll: this.s.waitForAllPending,
    };
  }

  nextDeadline(): number | null {
    return this.s.lastManStandingDeadline;
  }

  status(): QuorumStatus {
    const present = this.s.peers.filter((p) => p.member);
    const arbiter = this.s.arbiterPresent ? this.rules.arbiterVotes : 0;
    return {
      quorate: this.s.quorate,
      quorum: this.s.quorum,
      expectedVotes: this.s.expectedVotes,
      highestExpected: Math.max(this.s.expectedVotes, ...present.map((p) => p.expectedVotes)),
      totalVotes: this.selfVotes + present.reduce((sum, p) => sum + p.votes, 0) + arbiter,
      flags: flagsOf(this.rules, this.s.quorate, this.s.lastManStanding, this.config.arbiter !== null),
    };
  }

  /**
   * A new agreed membership. `peers` are the other members' announcements; a member
   * without one is taken to announce its configured votes, our expected votes and no quorum.
   */
  onMembership(members: NodeId[], arbiterPresent: boolean, now: number, peers: NodeInfo[] = []): QuorumStatus {
    const next = normalizeMembers(members);
    if (!next.includes(this.s.self)) throw new RangeError(`membership [${next.join(' ')}] does not contain this node (${this.s.self})`);
    for (const id of next) votesOf(this.config, id);
    this.beginSync(next, now);
    this.s.arbiterPresent = arbiterPresent && this.rules.arbiterVotes > 0;
    const announced = next.filter((id) => id !== this.s.self).map((id) => peers.find((p) => p.nodeId === id) ?? this.assumedInfo(id));
    const adopted = this.receive(announced);
    this.recalculate(adopted, false);
    return this.status();
  }

  /** The arbiter's vote started or stopped counting for this node (a qdevice poll). */
  onArbiter(present: boolean): QuorumStatus {
    const counts = present && this.rules.arbiterVotes > 0;
    if (counts === this.s.arbiterPresent) return this.status();
    this.s.arbiterPresent = counts;
    this.recalculate(false, false);
    return this.status();
  }

  /** Advance time: last_man_standing lowers expected votes once its window has passed in quorum. */
  onTick(now: number): QuorumStatus {
    const deadline = this.s.lastManStandingDeadline;
    if (deadline !== null && now >= deadline) {
      this.s.lastManStandingDeadline = null;
      if (this.s.quorate) this.recalculate(true, true);
    }
    return this.status();
  }

  private assumedInfo(id: NodeId): NodeInfo {
    return { nodeId: id, votes: votesOf(this.config, id), expectedVotes: this.s.expectedVotes, quorate: false, waitForAll: this.s.waitForAllPending };
  }

  /** Forget departed members, arm last_man_standing, remember the previous membership. */
  private beginSync(members: NodeId[], now: number): void {
    const left = this.s.members.filter((id) => !members.includes(id));
    for (const p of this.s.peers) if (left.includes(p.nodeId)) p.member = false;
    if (this.s.lastManStanding) {
      const shrankInQuorum = members.length >= this.s.quorum && left.length > 0;
      const lowestHalf =
        members.length <= this.s.quorum && this.rules.autoTieBreaker !== null && this.isPresent(this.s.tieBreakerLowest);
      if (shrankInQuorum || lowestHalf) this.s.lastManStandingDeadline = now + this.rules.lastManStandingWindowMs;
    }
    this.s.previousMembers = this.s.members;
    this.s.members = members;
  }

  private isPresent(id: NodeId | null): boolean {
    if (id === null) return false;
    return id === this.s.self || this.s.peers.some((p) => p.member && p.nodeId === id);
  }

  private record(id: NodeId): PeerRecord {
    let found = this.s.peers.find((p) => p.nodeId === id);
    if (!found) {
      found = { nodeId: id, votes: 0, expectedVotes: 0, member: false, quorate: false, waitForAll: false };
      this.s.peers.push(found);
      this.s.peers.sort((a, b) => a.nodeId - b.nodeId);
    }
    return found;
  }

  /**
   * The members' announcements, as votequorum's nodeinfo handler takes them, but as one
   * batch: corosync recalculates after each one, so its verdict can depend on their order
   * in the ring (docs/quorum.md); we recalculate once, after all of them.
   * Returns whether we adopted a quorate member's expected votes (quorum may then drop).
   */
  private receive(announced: NodeInfo[]): boolean {
    if (this.s.lastManStanding && (this.selfVotes > 1 || announced.some((i) => i.votes > 1))) {
      // corosync: "Last Man Standing feature is supported only when all cluster nodes votes are set to 1"
      this.s.lastManStanding = false;
      this.s.lastManStandingDeadline = null;
    }
    // Not quorate ourselves: take the expected votes of the quorate members we join.
    const quorate = announced.filter((i) => i.quorate);
    const adopt = !this.s.quorate && quorate.length > 0;
    if (adopt) this.s.expectedVotes = Math.max(...quorate.map((i) => i.expectedVotes));
    for (const info of announced) {
      const r = this.record(info.nodeId);
      r.votes = info.votes;
      r.quorate = info.quorate;
      r.waitForAll = info.waitForAll;
      r.member = true;
      r.expectedVotes = info.quorate ? info.expectedVotes : this.s.expectedVotes;
      // A member that was quorate and no longer waiting releases our wait_for_all.
      if (this.rules.waitForAll && info.quorate && !info.waitForAll) this.s.waitForAllPending = false;
    }
    return adopt;
  }

  /** votequorum's recalculate_quorum: raise expected votes, recompute the threshold, decide. */
  private recalculate(allowDecrease: boolean, lowerToCurrent: boolean): void {
    const present = this.s.peers.filter((p) => p.member);
    const memberVotes = this.selfVotes + present.reduce((sum, p) => sum + p.votes, 0);
    const arbiterVotes = this.rules.arbiterVotes;
    if (memberVotes + arbiterVotes > this.s.expectedVotes) this.s.expectedVotes = memberVotes + arbiterVotes;
    const totalVotes = memberVotes + (this.s.arbiterPresent ? arbiterVotes : 0);
    const voters = 1 + present.length + (this.s.arbiterPresent ? 1 : 0);
    let highest = Math.max(this.s.expectedVotes, ...present.map((p) => p.expectedVotes));
    // last_man_standing: expected votes become the number of members now present.
    const lowered = lowerToCurrent ? 1 + present.length + (arbiterVotes > 0 ? 1 : 0) : 0;
    if (lowered > 0) highest = lowered;
    this.s.quorum = threshold(this.rules, highest, totalVotes, voters, allowDecrease ? 0 : this.s.quorum);
    if (lowered > 0) {
      this.s.expectedVotes = lowered;
      for (const p of present) p.expectedVotes = lowered;
    }
    this.decide(totalVotes);
  }

  /** votequorum's are_we_quorate. */
  private decide(totalVotes: number): void {
    if (this.rules.waitForAll && this.s.waitForAllPending) {
      if (totalVotes !== this.s.expectedVotes) {
        this.s.quorate = false;
        return;
      }
      this.s.waitForAllPending = false;
    }
    let quorate = this.s.quorum <= totalVotes;
    if (quorate) {
      const present = [this.s.self, ...this.s.peers.filter((p) => p.member).map((p) => p.nodeId)];
      this.s.tieBreakerLowest = Math.min(...present);
      this.s.tieBreakerHighest = Math.max(...present);
    }
    const view: TieBreakerView = {
      members: this.s.members,
      previousMembers: this.s.previousMembers,
      departedVotes: departedVotes(this.config, this.s.members, this.s.previousMembers),
      lowest: this.isPresent(this.s.tieBreakerLowest) ? this.s.tieBreakerLowest : null,
      highest: this.isPresent(this.s.tieBreakerHighest) ? this.s.tieBreakerHighest : null,
    };
    if (!quorate && tieBreakerGrants(this.rules, totalVotes, this.s.expectedVotes, this.s.quorum, view)) quorate = true;
    this.s.quorate = quorate;
    // Losing quorum re-arms wait_for_all: all expected votes must be seen again.
    if (this.rules.waitForAll) this.s.waitForAllPending = !quorate;
  }
}
