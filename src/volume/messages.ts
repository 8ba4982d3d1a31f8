// Messages between the replication cores of the nodes of one resource. The link
// (runtime/peer) carries them as a JSON-able header plus an optional binary payload
// (block data, bitmap bytes); the simulator passes them as objects.

import type { DiskState, Role } from './states.js';

export interface ParamsMessage {
  type: 'params';
  protocol: 'A' | 'B' | 'C';
  allowTwoPrimaries: boolean;
  afterSb0pri: string;
  afterSb1pri: string;
  afterSb2pri: string;
  /** `connect --discard-my-data` was given on the sender. */
  discardMyData: boolean;
  volumes: number[];
}

export interface UuidsMessage {
  type: 'uuids';
  volume: number;
  current: bigint;
  bitmap: bigint;
  history: [bigint, bigint];
  /** Set bits in the sender's bitmap for the receiver ("changes"). */
  dirtyBits: number;
  /**
   * 1 discard-my-data, 2 crashed primary, 4 disk inconsistent (DRBD's P_UUIDS flags);
   * 0x100: the sender replicates from another Primary and takes resync data only from it.
   */
  flags: number;
}

export interface SizesMessage {
  type: 'sizes';
  volume: number;
  usableBytes: number;
}

export interface StateMessage {
  type: 'state';
  role: Role;
  disks: { volume: number; disk: DiskState }[];
}

/** Cluster-wide role change: the sender wants to become Primary. */
export interface PromoteRequestMessage {
  type: 'promote-request';
  requestId: number;
}

export interface PromoteReplyMessage {
  type: 'promote-reply';
  requestId: number;
  /** A StateChangeResult: Success or the refusal. */
  result: number;
}

/** A replicated application write; the payload is the data. */
export interface DataMessage {
  type: 'data';
  volume: number;
  id: number;
  epoch: number;
  offset: number;
  fua: boolean;
}

export interface AckMessage {
  type: 'recv-ack' | 'write-ack' | 'neg-ack';
  volume: number;
  id: number;
}

/**
 * The Primary tells a Secondary which nodes hold a completed write, so the Secondary can
 * forget that those peers might miss it (DRBD 9's P_PEER_ACK). With empty `ids` it is
 * cumulative: every holder is fully in sync with the Primary (DRBD 9's P_PEERS_IN_SYNC).
 */
export interface PeerAckMessage {
  type: 'peer-ack';
  ids: number[];
  holders: string[];
}

/** Closes an epoch: the receiver acks once every write of it (and before) is on stable storage. */
export interface BarrierMessage {
  type: 'barrier';
  epoch: number;
}

export interface BarrierAckMessage {
  type: 'barrier-ack';
  epoch: number;
}

/** Blocks the receiver must consider out of sync (written while no data could be sent). */
export interface OutOfSyncMessage {
  type: 'out-of-sync';
  volume: number;
  offset: number;
  length: number;
}

/** The sender's bitmap for the receiver, in chunks of bitmap bytes (payload); `last` ends it. */
export interface BitmapMessage {
  type: 'bitmap';
  volume: number;
  byteOffset: number;
  last: boolean;
}

/** The sender starts a resync with the receiver; its bitmap follows. */
export interface SyncStartMessage {
  type: 'sync-start';
  volume: number;
  /** The sender's side of the resync. */
  senderIs: 'source' | 'target';
}

export interface SyncUuidMessage {
  type: 'sync-uuid';
  volume: number;
  uuid: bigint;
}

export interface ResyncRequestMessage {
  type: 'rs-request';
  volume: number;
  offset: number;
  length: number;
  /** With csums-alg: digest of the target's block (hex); the source answers rs-in-sync if equal. */
  digest: string | null;
}

/** Payload: the block's data. */
export interface ResyncDataMessage {
  type: 'rs-data';
  volume: number;
  offset: number;
  length: number;
}

export interface ResyncInSyncMessage {
  type: 'rs-in-sync';
  volume: number;
  offset: number;
  length: number;
}

export interface ResyncAckMessage {
  type: 'rs-ack';
  volume: number;
  offset: number;
  length: number;
}

export interface ResyncDoneMessage {
  type: 'rs-done';
  volume: number;
}

export interface VerifyStartMessage {
  type: 'ov-start';
  volume: number;
}

/** The verify source's digests of each 4 KiB block of the range, taken under its range lock. */
export interface VerifyRequestMessage {
  type: 'ov-request';
  volume: number;
  offset: number;
  length: number;
  digests: string[];
}

/** Which blocks of the range (indexes from the start of the range) differ on the target. */
export interface VerifyReplyMessage {
  type: 'ov-reply';
  volume: number;
  offset: number;
  length: number;
  differing: number[];
}

export interface VerifyDoneMessage {
  type: 'ov-done';
  volume: number;
  outOfSyncBlocks: number;
}

export type PeerMessage =
  | ParamsMessage
  | UuidsMessage
  | SizesMessage
  | StateMessage
  | PromoteRequestMessage
  | PromoteReplyMessage
  | DataMessage
  | AckMessage
  | PeerAckMessage
  | BarrierMessage
  | BarrierAckMessage
  | OutOfSyncMessage
  | BitmapMessage
  | SyncStartMessage
  | SyncUuidMessage
  | ResyncRequestMessage
  | ResyncDataMessage
  | ResyncInSyncMessage
  | ResyncAckMessage
  | ResyncDoneMessage
  | VerifyStartMessage
  | VerifyRequestMessage
  | VerifyReplyMessage
  | VerifyDoneMessage;

export type PeerMessageType = PeerMessage['type'];
