// Reading a socket into one reused buffer instead of a fresh 64 KiB buffer per read.
//
// Node allocates a new buffer for every read of a socket. At a few hundred MiB/s those
// allocations alone make V8 start a full mark-compact several times per second (external
// memory pressure), even though every buffer dies young. With a reused read buffer the
// receiver copies out what it keeps (block payloads go into pooled buffers anyway).
//
// Node offers this as the `onread` option of net.Socket/net.connect, but not for sockets a
// server accepts; for those the same switch is made on the socket before its first read,
// through the socket's own symbols. When that is not possible (another Node version, a TLS
// socket) the caller keeps using 'data' events.

import type net from 'node:net';

const symbolsByName = (socket: object): Map<string, symbol> =>
  new Map(Object.getOwnPropertySymbols(socket).map((s) => [s.description ?? '', s] as const));

/**
 * From now on, `onChunk` receives what each read delivered as a view of one reused buffer,
 * valid only during the call. Call it while Node holds no unread bytes of the socket (e.g.
 * from a 'data' handler, which consumes them). Returns false when the socket cannot be
 * switched; it then emits 'data' as usual.
 *
 * `nextTarget`, asked after each chunk, may name where the next read goes instead: the
 * unfilled rest of a payload buffer, so the kernel copies the payload straight into it
 * (`onChunk` then receives a view of that buffer). It must return a buffer that stays
 * valid until the read (the socket is closed before it is given to anyone else), sized so
 * that no bytes beyond the payload can land in it.
 */
export function readIntoReusedBuffer(socket: net.Socket, bytes: number, onChunk: (chunk: Buffer) => void, nextTarget?: () => Buffer | null): boolean {
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } | null })._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function') return false;
  // Bytes Node already holds would be emitted after the ones read from now on: stay as is.
  if (socket.readableLength > 0) return false;
  const syms = symbolsByName(socket);
  const kBuffer = syms.get('kBuffer');
  const kBufferCb = syms.get('kBufferCb');
  const kBufferGen = syms.get('kBufferGen');
  if (kBuffer === undefined || kBufferCb === undefined || kBufferGen === undefined) return false;
  const s = socket as unknown as Record<symbol, unknown>;
  if (s[kBuffer] !== null && s[kBuffer] !== undefined) return false;
  const buf = Buffer.allocUnsafeSlow(bytes);
  s[kBuffer] = buf;
  // Node reads into whatever the generator returns next (the reused buffer when there is no payload to fill).
  s[kBufferGen] = nextTarget === undefined ? null : (): Buffer => nextTarget() ?? buf;
  s[kBufferCb] = (nread: number, b: Buffer): boolean => {
    onChunk(b.subarray(0, nread));
    // false would stop reading: pausing is up to the caller (socket.pause()).
    return true;
  };
  handle.useUserBuffer(buf);
  return true;
}

/** Whether `chunk` is the view of `buf` that starts `offset` bytes in: a read that went straight into it (see nextTarget). */
export function isReadInPlace(chunk: Buffer, buf: Buffer, offset: number): boolean {
  return chunk.buffer === buf.buffer && chunk.byteOffset === buf.byteOffset + offset;
}
