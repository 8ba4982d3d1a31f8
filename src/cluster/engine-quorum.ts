// The quorum decisions of the cluster engine, in one place so that the rule can be
// swapped: which sets of voters may elect a leader, commit an entry or hold a lease
// (`isQuorateVoters`), and what a membership reports (`membershipQuorum`).
//
// The reported status comes from votequorum.ts (quorumStep). The set predicate follows
// votequorum's isQuorateSet and is never laxer (test/unit/cluster-quorum.test.ts checks
// both), with differences that keep every two quorate sets intersecting, which the
// engine's safety rests on (two_node excepted, by design):
//  - auto_tie_breaker grants only an exact half of even expected votes: with odd expected
//    votes the other side of a "half - 1" split may hold a majority;
//  - auto_tie_breaker with a node list: the tie-breaker is the first listed node of the
//    previous quorate membership (or the first listed node when none was in it), one node
//    for everyone, so two halves can never both hold it;
//  - last_man_standing: after expected votes were lowered, only the votes of the
//    members at that moment count until others rejoin through a membership entry; a
//    returning node with stale state cannot outvote the lowered majority.
// It is also fast: it runs for every acknowledgement a leader receives.

import type { ClusterConfig, NodeId, QuorumStatus } from './types.js';
import { ARBITER_NODE_ID } from './types.js';
import {
  initialCarry,
  majorityOf,
  quorumConfigOf,
  quorumRules,
  quorumStep,
  type QuorumCarry,
  type QuorumConfig,
  type QuorumRules,
} from './votequorum.js';

export type { QuorumCarry } from './votequorum.js';

/** The quorum state every member agrees on: carried in membership entries and snapshots. */
export interface AgreedQuorum {
  carry: QuorumCarry;
  /** After last_man_standing lowered expected votes: the voters whose votes count (null: all). */
  counted: NodeId[] | null;
}

export class QuorumRule {
  readonly qconfig: QuorumConfig;
  readonly rules: QuorumRules;
  readonly warnings: string[];
  private readonly votes = new Map<NodeId, number>();
  /** last_man_standing needs one vote per node, as in votequorum. */
  readonly lastManStanding: boolean;

  constructor(config: ClusterConfig) {
    this.qconfig = quorumConfigOf(config);
    const check = quorumRules(this.qconfig);
    if (check.errors.length > 0) throw new RangeError(`${config.file}: quorum configuration refused: ${check.errors.join('; ')}`);
    this.rules = check.rules;
    this.warnings = check.warnings;
    for (const n of config.nodes) this.votes.set(n.nodeId, n.votes);
    this.lastManStanding = this.rules.lastManStanding && config.nodes.every((n) => n.votes === 1);
    this.expectedFloor = config.quorum.expectedVotes === null ? config.nodes.reduce((s, n) => s + n.votes, 0) + this.rules.arbiterVotes : 0;
  }

  /** Without quorum.expected_votes: all configured votes (see initial()). */
  private readonly expectedFloor: number;

  /**
   * Expected votes start at the votes of every configured voter, the arbiter included
   * (unless quorum.expected_votes says otherwise): otherwise, before the first membership
   * of all voters, two disjoint halves could each hold a majority of a smaller number.
   */
  initial(): AgreedQuorum {
    const carry = initialCarry(this.qconfig);
    return { carry: { ...carry, expectedVotes: Math.max(carry.expectedVotes, this.expectedFloor) }, counted: null };
  }

  votesOf(id: NodeId): number {
    return id === ARBITER_NODE_ID ? this.rules.arbiterVotes : (this.votes.get(id) ?? 0);
  }

  /**
   * Would these voters (node ids, the arbiter as 0) hold quorum by votes and tie-breaker
   * under this agreed state? wait_for_all does not apply: it only gates what is reported.
   */
  isQuorateVoters(voters: Iterable<NodeId>, agreed: AgreedQuorum): boolean {
    const { carry, counted } = agreed;
    let memberVotes = 0;
    let members = 0;
    let arbiter = false;
    let holdsLowest = false;
    let holdsHighest = false;
    const tieBreakerNode = this.listTieBreaker(carry);
    let holdsListed = false;
    const seen = new Set<NodeId>();
    for (const id of voters) {
      seen.add(id);
      if (id === ARBITER_NODE_ID) {
        arbiter = true;
        continue;
      }
      if (counted !== null && !counted.includes(id)) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      memberVotes += v;
      members++;
      if (id === carry.tieBreakerLowest) holdsLowest = true;
      if (id === carry.tieBreakerHighest) holdsHighest = true;
      if (id === tieBreakerNode) holdsListed = true;
    }
    const arbiterCounts = arbiter && this.rules.arbiterVotes > 0;
    const total = memberVotes + (arbiterCounts ? this.rules.arbiterVotes : 0);
    const expected = Math.max(carry.expectedVotes, memberVotes + this.rules.arbiterVotes);
    const count = members + (arbiterCounts ? 1 : 0);
    const quorum = this.rules.twoNode && count <= 2 ? 1 : Math.max(majorityOf(expected), majorityOf(total));
    if (quorum <= total) return true;
    const atb = this.rules.autoTieBreaker;
    // Only an exact half: with odd expected votes the other side may hold a majority.
    if (atb === null || total * 2 !== expected) return false;
    let departed = 0;
    for (const id of carry.previousMembers) if (!seen.has(id)) departed += this.votes.get(id) ?? 0;
    if (departed >= quorum) return false;
    if (atb === 'lowest') return holdsLowest;
    if (atb === 'highest') return holdsHighest;
    return holdsListed;
  }

  /** One fixed tie-breaker for a node list: the first listed node of the previous membership. */
  private listTieBreaker(carry: QuorumCarry): NodeId | null {
    const atb = this.rules.autoTieBreaker;
    if (!Array.isArray(atb) || atb.length === 0) return null;
    return atb.find((id) => carry.previousMembers.includes(id)) ?? atb[0]!;
  }

  /** The status and the next agreed state for a new membership (votequorum's rules). */
  membershipQuorum(members: NodeId[], arbiterPresent: boolean, prev: AgreedQuorum): { status: QuorumStatus; agreed: AgreedQuorum } {
    const { status, carry } = quorumStep({ config: this.qconfig, members, arbiterPresent, carry: prev.carry });
    // Members count again once they are back in an agreed membership.
    const counted = prev.counted === null ? null : [...new Set([...prev.counted, ...members])].sort((a, b) => a - b);
    const all = counted !== null && this.qconfig.nodes.every((n) => counted.includes(n.nodeId));
    return { status, agreed: { carry, counted: all ? null : counted } };
  }

  /**
   * last_man_standing: expected votes drop to the votes of the current members (which
   * stayed quorate for the window); from then on only their votes count.
   */
  lowered(members: NodeId[], arbiterPresent: boolean, prev: AgreedQuorum): { status: QuorumStatus; agreed: AgreedQuorum } {
    const votes = members.reduce((s, id) => s + this.votesOf(id), 0) + this.rules.arbiterVotes;
    const carry: QuorumCarry = { ...prev.carry, expectedVotes: votes, quorum: 0, previousMembers: prev.carry.previousMembers };
    const { status, carry: next } = quorumStep({ config: this.qconfig, members, arbiterPresent, carry });
    return { status, agreed: { carry: next, counted: [...members].sort((a, b) => a - b) } };
  }

  /** Votes of a membership (members plus the arbiter when its vote counts). */
  membershipVotes(members: readonly NodeId[], arbiterPresent: boolean): number {
    return members.reduce((s, id) => s + this.votesOf(id), 0) + (arbiterPresent ? this.rules.arbiterVotes : 0);
  }
}
