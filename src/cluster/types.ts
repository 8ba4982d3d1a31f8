// Shared vocabulary of the cluster engine: the typed cluster configuration read from
// corosync.conf, and the shapes that cross between the pure core, the quorum rules,
// the transport and the daemon. Pure types only: no I/O, no clock.

/** Corosync's `nodeid`: a nonzero u32. The arbiter (quorum device) is node 0. */
export type NodeId = number;

export const ARBITER_NODE_ID: NodeId = 0;

export interface ClusterNode {
  nodeId: NodeId;
  /** `name`, or ring0_addr when the node has no name (as corosync does). */
  name: string;
  /** ring0_addr, ring1_addr, ... in link order; at most two are used. */
  addresses: string[];
  /** quorum_votes (default 1). */
  votes: number;
}

export type AutoTieBreakerNode = 'lowest' | 'highest' | NodeId[];

export interface QuorumOptions {
  /** quorum.expected_votes when set; otherwise derived from the nodelist. */
  expectedVotes: number | null;
  twoNode: boolean;
  /** Effective value: two_node implies it unless wait_for_all: 0 is explicit. */
  waitForAll: boolean;
  lastManStanding: boolean;
  lastManStandingWindowMs: number;
  autoTieBreaker: boolean;
  autoTieBreakerNode: AutoTieBreakerNode;
}

export interface ArbiterOptions {
  /** quorum.device.net.host (and port, default 5403). */
  host: string;
  port: number;
  /** quorum.device.votes (default 1). */
  votes: number;
  algorithm: 'ffsplit' | 'lms';
}

export interface TotemTimings {
  /** totem.token: failure-detection timeout in ms. Our default is 1000, not corosync's 3000. */
  tokenMs: number;
  /** totem.consensus; default 1.2 × token. Used as the upper end of the randomized election timeout. */
  consensusMs: number;
  /** totem.join: interval of heartbeats/append messages in ms (default 50 as in corosync; we use max(join, token/10)). */
  joinMs: number;
  /** totem.max_network_delay (default 50). */
  maxNetworkDelayMs: number;
}

export interface ClusterCrypto {
  cipher: 'aes256' | 'aes192' | 'aes128' | 'none';
  hash: 'sha256' | 'sha384' | 'sha512' | 'sha1' | 'md5' | 'none';
  /** totem.keyfile (default /etc/corosync/authkey; the daemon looks in its state dir first). */
  keyFile: string | null;
}

export interface ClusterConfig {
  /** The file the config came from, for messages. */
  file: string;
  clusterName: string;
  /** UDP base port (totem.interface.mcastport, default 5405); link N uses port + N. */
  port: number;
  timings: TotemTimings;
  crypto: ClusterCrypto;
  nodes: ClusterNode[];
  quorum: QuorumOptions;
  arbiter: ArbiterOptions | null;
}

/** What `safeside quorum` and the quorum rules report; shaped after corosync-quorumtool -s. */
export interface QuorumStatus {
  quorate: boolean;
  /** Quorum threshold in votes. */
  quorum: number;
  expectedVotes: number;
  highestExpected: number;
  totalVotes: number;
  /** Flags in corosync-quorumtool's order and spelling: 2Node Quorate WaitForAll LastManStanding AutoTieBreaker Qdevice. */
  flags: string[];
}

/** The agreed membership: every member of one ring id sees the same list. */
export interface Membership {
  /** Corosync-style ring id: rep (leader) node id and a cluster-wide increasing sequence. */
  ringId: { rep: NodeId; seq: number };
  /** Data nodes (not the arbiter), ascending. */
  members: NodeId[];
  /** Whether the arbiter's vote counts in this membership. */
  arbiterPresent: boolean;
}

export const formatRingId = (r: { rep: NodeId; seq: number }): string => `${r.rep.toString(16)}.${r.seq.toString(16)}`;
