// The contract of the pure cluster engine (src/cluster/engine.ts): events in, effects
// out, time and randomness passed in. The daemon's runtime (src/runtime/cluster/) and
// the simulator (src/sim/cluster-sim.ts) drive the same engine through this interface.

import type { ClusterConfig, Membership, NodeId, QuorumStatus } from './types.js';

/** Persistent per-node state that must survive a crash (written and fsynced before the effects that follow it are carried out). */
export interface PersistentState {
  term: number;
  votedFor: NodeId | null;
}

export interface EngineOptions {
  /** This node's id; ARBITER_NODE_ID (0) for the arbiter. */
  self: NodeId;
  config: ClusterConfig;
  /** Uniform in [0, 1); seeded in the simulator. */
  random: () => number;
  /** What was persisted before a restart, or null on a first start. */
  persisted: PersistentState | null;
}

/** Opaque to everyone but the engine; the transport serializes it as JSON. */
export type EngineMessage = { readonly kind: string } & Record<string, unknown>;

export type EngineEvent =
  | { type: 'start'; now: number }
  /** A timer the engine asked for (nextWakeup) fired, or any periodic poll. */
  | { type: 'tick'; now: number }
  | { type: 'receive'; now: number; from: NodeId; message: EngineMessage }
  /** The local node's application joins/leaves a named process group (like cpg_join/cpg_leave). */
  | { type: 'group-join'; now: number; group: string }
  | { type: 'group-leave'; now: number; group: string }
  /** Multicast to a group this node has joined (like cpg_mcast_joined, AGREED order). */
  | { type: 'group-send'; now: number; group: string; payload: string };

/** CPG's reasons (cpg.h): JOIN=1, LEAVE=2, NODEDOWN=3, NODEUP=4, PROCDOWN=5. */
export type GroupChangeReason = 'join' | 'leave' | 'nodedown' | 'nodeup' | 'procdown';

export type EngineEffect =
  | { type: 'send'; to: NodeId; message: EngineMessage }
  | { type: 'persist'; state: PersistentState }
  /** A new agreed membership, delivered at the same position of the total order on every member. */
  | { type: 'membership'; membership: Membership; joined: NodeId[]; left: NodeId[]; reason: string }
  /** A message of a group this node belongs to, in the cluster-wide total order (`seq` increases without gaps within a ring). */
  | { type: 'deliver'; group: string; from: NodeId; payload: string; seq: number; ringId: Membership['ringId'] }
  /** Group membership change (like cpg's confchg): members after the change. */
  | {
      type: 'group-change';
      group: string;
      members: NodeId[];
      joined: { node: NodeId; reason: GroupChangeReason }[];
      left: { node: NodeId; reason: GroupChangeReason }[];
    }
  /** The quorum view changed (quorate flag, votes, flags). */
  | { type: 'quorum'; status: QuorumStatus }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; msg: string; fields?: Record<string, unknown> };

/** The node's view at an instant; lease-checked against `now`, so a node that was paused never reports a stale quorum. */
export interface EngineView {
  role: 'leader' | 'follower' | 'candidate' | 'arbiter';
  term: number;
  leader: NodeId | null;
  quorate: boolean;
  quorum: QuorumStatus;
  /** The last agreed membership this node applied, or null before the first. */
  membership: Membership | null;
  /** Groups this node has joined and their members. */
  groups: { name: string; members: NodeId[] }[];
}

export interface Engine {
  step(event: EngineEvent): EngineEffect[];
  /** Absolute time (same clock as `now`) at which the engine wants a tick. */
  nextWakeup(): number;
  view(now: number): EngineView;
}
