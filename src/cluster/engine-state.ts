// The state every node builds by applying the committed log in order: the agreed
// membership, the agreed quorum state, the process groups and their message counters,
// and which group requests of which node incarnation were already applied. Applying is
// deterministic, so every node that applies the same entries holds the same state.

import type { GroupChangeReason } from './engine-api.js';
import type { AgreedQuorum } from './engine-quorum.js';
import { limits, type Entry, type Snapshot, type SnapshotMembership } from './engine-messages.js';
import type { NodeId, QuorumStatus } from './types.js';

export interface GroupDelta {
  joined: { node: NodeId; reason: GroupChangeReason }[];
  left: { node: NodeId; reason: GroupChangeReason }[];
}

/** What one applied entry changed, for the engine to turn into effects. */
export type Change =
  | { k: 'membership'; groups: Map<string, GroupDelta> }
  | { k: 'quorum' }
  | { k: 'group'; group: string; delta: GroupDelta }
  | { k: 'deliver'; group: string; from: NodeId; payload: string; seq: number; inc: number; reqSeq: number }
  | { k: 'refused'; node: NodeId; group: string; why: string }
  | { k: 'none' };

const insertSorted = (list: NodeId[], id: NodeId): NodeId[] => [...list, id].sort((a, b) => a - b);

export class AgreedState {
  index = 0;
  term = 0;
  membership: SnapshotMembership | null = null;
  quorum: AgreedQuorum;
  status: QuorumStatus | null = null;
  readonly groups = new Map<string, NodeId[]>();
  readonly groupSeq = new Map<string, number>();
  /** Per node: [incarnation, last applied seq], newest last. */
  readonly requests = new Map<NodeId, [number, number][]>();

  constructor(quorum: AgreedQuorum) {
    this.quorum = quorum;
  }

  /** In the agreed membership (as this incarnation, when given). */
  isMember(id: NodeId, inc?: number): boolean {
    const m = this.membership;
    if (m === null) return false;
    const at = m.members.indexOf(id);
    return at >= 0 && (inc === undefined || m.incs[at] === inc);
  }

  /** The last applied seq of this node incarnation's group requests (0: none). */
  appliedSeq(node: NodeId, inc: number): number {
    const list = this.requests.get(node);
    const hit = list?.find(([i]) => i === inc);
    return hit ? hit[1] : 0;
  }

  apply(e: Entry, index: number): Change {
    this.index = index;
    this.term = e.term;
    switch (e.k) {
      case 'member':
        return this.applyMembership(e);
      case 'quorum':
        this.quorum = e.quorum;
        this.status = e.status;
        return { k: 'quorum' };
      case 'req':
        return this.applyRequest(e);
    }
  }

  private applyMembership(e: Extract<Entry, { k: 'member' }>): Change {
    const before = this.membership;
    const stays = (node: NodeId, inc: number): boolean => {
      const at = e.members.indexOf(node);
      return at >= 0 && e.incs[at] === inc;
    };
    const groups = new Map<string, GroupDelta>();
    const delta = (g: string): GroupDelta => {
      let d = groups.get(g);
      if (!d) groups.set(g, (d = { joined: [], left: [] }));
      return d;
    };
    // A member that is gone, or came back as a new incarnation, leaves its groups.
    for (const [i, node] of (before?.members ?? []).entries()) {
      if (stays(node, before!.incs[i]!)) continue;
      for (const [g, members] of this.groups) {
        if (!members.includes(node)) continue;
        this.setGroup(g, members.filter((m) => m !== node));
        delta(g).left.push({ node, reason: 'nodedown' });
      }
    }
    for (const { node, groups: names } of e.nodeGroups) {
      const at = e.members.indexOf(node);
      if (at < 0 || (before !== null && before.members.includes(node) && before.incs[before.members.indexOf(node)] === e.incs[at])) continue;
      for (const g of names) {
        const members = this.groups.get(g) ?? [];
        if (members.includes(node) || !this.roomFor(g)) continue;
        this.setGroup(g, insertSorted(members, node));
        delta(g).joined.push({ node, reason: 'nodeup' });
      }
    }
    this.membership = { rep: e.rep, ringSeq: e.ringSeq, members: e.members, incs: e.incs, arbiter: e.arbiter, term: e.term };
    this.quorum = e.quorum;
    this.status = e.status;
    return { k: 'membership', groups };
  }

  private applyRequest(e: Extract<Entry, { k: 'req' }>): Change {
    let list = this.requests.get(e.node);
    if (!list) this.requests.set(e.node, (list = []));
    const at = list.findIndex(([i]) => i === e.inc);
    if (at >= 0 && list[at]![1] >= e.seq) return { k: 'none' }; // a repeat
    if (at >= 0) list.splice(at, 1);
    list.push([e.inc, e.seq]);
    if (list.length > limits.incarnationsMax) list.shift();
    // Only members act in groups; a request from a node that has left is dropped here,
    // identically everywhere.
    if (!this.isMember(e.node, e.inc)) return { k: 'none' };
    const members = this.groups.get(e.group) ?? [];
    const inGroup = members.includes(e.node);
    switch (e.op) {
      case 'join':
        if (inGroup) return { k: 'none' };
        if (!this.roomFor(e.group)) return { k: 'refused', node: e.node, group: e.group, why: `the cluster already keeps ${limits.groupCountMax} groups` };
        this.setGroup(e.group, insertSorted(members, e.node));
        return { k: 'group', group: e.group, delta: { joined: [{ node: e.node, reason: 'join' }], left: [] } };
      case 'leave':
        if (!inGroup) return { k: 'none' };
        this.setGroup(
          e.group,
          members.filter((m) => m !== e.node),
        );
        return { k: 'group', group: e.group, delta: { joined: [], left: [{ node: e.node, reason: 'leave' }] } };
      case 'msg': {
        if (!inGroup) return { k: 'none' };
        const seq = (this.groupSeq.get(e.group) ?? 0) + 1;
        this.groupSeq.set(e.group, seq);
        return { k: 'deliver', group: e.group, from: e.node, payload: e.payload, seq, inc: e.inc, reqSeq: e.seq };
      }
    }
  }

  private setGroup(g: string, members: NodeId[]): void {
    if (members.length > 0) this.groups.set(g, members);
    else this.groups.delete(g);
  }

  /**
   * Whether group `g` may have members: it has, or the cluster keeps fewer than
   * groupCountMax names. An empty group keeps its counter (if it forms again in the same
   * ring, its seqs go on), until a new name needs the room: then the oldest such counter goes.
   */
  private roomFor(g: string): boolean {
    if (this.groups.has(g) || this.groupSeq.has(g)) return true;
    if (this.groups.size + this.groupSeq.size - this.countedAndActive() < limits.groupCountMax) return true;
    for (const name of this.groupSeq.keys()) {
      if (!this.groups.has(name)) {
        this.groupSeq.delete(name);
        return true;
      }
    }
    return false;
  }

  private countedAndActive(): number {
    let n = 0;
    for (const name of this.groupSeq.keys()) if (this.groups.has(name)) n++;
    return n;
  }

  snapshot(): Snapshot {
    return {
      lastIndex: this.index,
      lastTerm: this.term,
      membership: this.membership && { ...this.membership, members: [...this.membership.members], incs: [...this.membership.incs] },
      quorum: structuredClone(this.quorum),
      status: this.status && { ...this.status, flags: [...this.status.flags] },
      groups: [...new Set([...this.groups.keys(), ...this.groupSeq.keys()])].map((g) => [g, [...(this.groups.get(g) ?? [])], this.groupSeq.get(g) ?? 0]),
      requests: [...this.requests].map(([n, l]) => [n, l.map(([i, s]) => [i, s] as [number, number])]),
    };
  }

  static fromSnapshot(s: Snapshot): AgreedState {
    const a = new AgreedState(structuredClone(s.quorum));
    a.index = s.lastIndex;
    a.term = s.lastTerm;
    a.membership = s.membership && { ...s.membership, members: [...s.membership.members], incs: [...s.membership.incs] };
    a.status = s.status && { ...s.status, flags: [...s.status.flags] };
    for (const [g, m, n] of s.groups) {
      if (m.length > 0) a.groups.set(g, [...m]);
      if (n > 0) a.groupSeq.set(g, n);
    }
    for (const [n, l] of s.requests) a.requests.set(n, l.map(([i, q]) => [i, q]));
    return a;
  }
}
