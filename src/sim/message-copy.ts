// Messages cross the simulated network as copies, as they would across a socket: the
// receiver never shares an array or a buffer with the sender.

import type { PeerMessage } from '../volume/messages.js';
import { blockDataBuffer, type BlockData } from '../volume/block-data.js';

/** Payloads longer than this arrive as chunks of it, as a socket delivers large frames. */
const RECEIVED_CHUNK_BYTES = 4096;

export function decodeMessageCopy(message: PeerMessage, payload: BlockData | null): { message: PeerMessage; payload: BlockData | null } {
  const copy = { ...message } as PeerMessage & { history?: [bigint, bigint]; disks?: unknown[]; volumes?: number[] };
  if ('history' in message) copy.history = [message.history[0], message.history[1]];
  if ('disks' in message) copy.disks = message.disks.map((d) => ({ ...d }));
  if ('volumes' in message) copy.volumes = [...message.volumes];
  if (payload === null) return { message: copy, payload: null };
  const bytes = Buffer.from(blockDataBuffer(payload));
  if (bytes.length <= RECEIVED_CHUNK_BYTES || message.type === 'bitmap') return { message: copy, payload: bytes };
  const chunks: Buffer[] = [];
  for (let o = 0; o < bytes.length; o += RECEIVED_CHUNK_BYTES) chunks.push(bytes.subarray(o, Math.min(o + RECEIVED_CHUNK_BYTES, bytes.length)));
  return { message: copy, payload: chunks };
}
