// The bytes of a write as they arrived from the network: one buffer, or the received
// chunks in order. Large writes travel as chunks so that no layer has to copy them into
// one buffer (the disk takes them with pwritev, the peer link with writev).

export type BlockData = Buffer | readonly Buffer[];

export function blockDataLength(d: BlockData): number {
  if (Buffer.isBuffer(d)) return d.length;
  let n = 0;
  for (const c of d) n += c.length;
  return n;
}

/** One buffer with the bytes (a copy only when they are in several chunks). */
export function blockDataBuffer(d: BlockData): Buffer {
  if (Buffer.isBuffer(d)) return d;
  return d.length === 1 ? d[0]! : Buffer.concat(d as Buffer[], blockDataLength(d));
}
