// Messages cross the simulated network as copies, as they would across a socket: the
// receiver never shares an array or a buffer with the sender.

import type { PeerMessage } from '../volume/messages.js';

export function decodeMessageCopy(message: PeerMessage, payload: Buffer | null): { message: PeerMessage; payload: Buffer | null } {
  const copy = { ...message } as PeerMessage & { history?: [bigint, bigint]; disks?: unknown[]; volumes?: number[] };
  if ('history' in message) copy.history = [message.history[0], message.history[1]];
  if ('disks' in message) copy.disks = message.disks.map((d) => ({ ...d }));
  if ('volumes' in message) copy.volumes = [...message.volumes];
  return { message: copy, payload: payload ? Buffer.from(payload) : null };
}
