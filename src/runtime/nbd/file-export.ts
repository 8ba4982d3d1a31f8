// A BlockExport backed by a byte window [offsetBytes, offsetBytes + sizeBytes) of a file or
// block device. Bytes outside the window (e.g. DRBD-style metadata at the end of the backing
// device) are never touched: every call is bounds-checked here as well as in the server.
//
// Writes go to the page cache, except large ones (see directIo); flush() and FUA use
// fdatasync, which covers both paths (it is per file, not per descriptor). TRIM is accepted and ignored
// (allowed by the NBD spec: it is only a hint). The file descriptor is shared by all
// connections, so flush() covers writes from every connection (NBD_FLAG_CAN_MULTI_CONN).

import fs from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { BlockIoError, NbdErrno, type VectoredBlockExport } from './block-export.js';
import { payloadPool, DIRECT_IO_ALIGN_BYTES } from '../buffer-pool.js';

export interface FileBlockExportOptions {
  name: string;
  description?: string;
  readOnly?: boolean;
  /** Start of the exported window inside the file (default 0). */
  offsetBytes?: number;
  /** Size of the window (default: file size - offsetBytes; required for block devices). */
  sizeBytes?: number;
  /**
   * Reads and non-FUA writes up to this many bytes are done with pread/pwrite on the calling
   * (event-loop) thread instead of libuv's thread pool (default 0: never). This saves two thread
   * hand-offs per request, which dominate small-block latency when the data is in the page
   * cache, but blocks the event loop for the duration of the syscall (a cold read from disk,
   * or dirty-page throttling on write). Reads only for processes that serve NBD and nothing
   * latency-critical (e.g. a dedicated NBD worker); see inlineWriteBytesMax for writes.
   */
  inlineIoBytesMax?: number;
  /**
   * Like inlineIoBytesMax, for non-FUA writes only (default: inlineIoBytesMax). A buffered
   * write of a few KiB lands in the page cache in microseconds, less than the two thread
   * hand-offs cost, and waits longer only while the kernel throttles a writer that dirties
   * pages faster than the disk takes them; a read that misses the cache waits for the disk
   * every time, so reads can stay on the thread pool while writes are inline.
   */
  inlineWriteBytesMax?: number;
  /**
   * Large writes (DIRECT_IO_MIN_BYTES or more) and the reads the caller marks as bulk (one
   * pass over the data, e.g. resync) bypass the page cache of a regular file with O_DIRECT
   * when their buffer is aligned (default false). Through the page cache a large transfer
   * leaves large folios behind (Linux 6.16+ ext4 sizes a folio by the write or the readahead
   * that created it, up to 2 MiB), and every later 4 KiB write into such a folio costs
   * several times one into a small folio. DRBD, too, writes its backing device below any
   * page cache; the page cache that matters is the one above the replicated device. Small
   * writes stay buffered: they are cheap there and later reads find them.
   */
  directIo?: boolean;
}

/** Transfers from this size up may go around the page cache (see FileBlockExportOptions.directIo). */
export const DIRECT_IO_MIN_BYTES = 64 * 1024;

const ZERO_CHUNK_BYTES = 1024 * 1024;
let zeroChunk: Buffer | null = null;
function zeroes(): Buffer {
  zeroChunk ??= Buffer.alloc(ZERO_CHUNK_BYTES);
  return zeroChunk;
}

export class FileBlockExport implements VectoredBlockExport {
  private openers = 0;
  private closed = false;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    readonly name: string,
    readonly description: string,
    readonly readOnly: boolean,
    readonly offsetBytes: number,
    readonly sizeBytes: number,
    private readonly inlineIoBytesMax: number,
    private readonly inlineWriteBytesMax: number,
    /** The same file opened with O_DIRECT, or null (block device, unsupported filesystem, or disabled). */
    private direct: FileHandle | null,
  ) {}

  static async open(path: string, options: FileBlockExportOptions): Promise<FileBlockExport> {
    const readOnly = options.readOnly ?? false;
    const offsetBytes = options.offsetBytes ?? 0;
    if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0) throw new RangeError(`offsetBytes must be a non-negative integer`);
    if (options.sizeBytes !== undefined && (!Number.isSafeInteger(options.sizeBytes) || options.sizeBytes < 0)) {
      throw new RangeError(`sizeBytes must be a non-negative integer`);
    }
    const handle = await open(path, readOnly ? 'r' : 'r+');
    try {
      const st = await handle.stat();
      let sizeBytes: number;
      if (st.isFile()) {
        if (offsetBytes > st.size) throw new RangeError(`${path}: offsetBytes ${offsetBytes} is past the end of the file (${st.size} bytes)`);
        sizeBytes = options.sizeBytes ?? st.size - offsetBytes;
        if (offsetBytes + sizeBytes > st.size) {
          throw new RangeError(`${path}: window ${offsetBytes}+${sizeBytes} is past the end of the file (${st.size} bytes)`);
        }
      } else if (st.isBlockDevice()) {
        if (options.sizeBytes === undefined) throw new RangeError(`${path}: sizeBytes is required for a block device`);
        sizeBytes = options.sizeBytes;
      } else {
        throw new Error(`${path}: not a regular file or block device`);
      }
      const inline = options.inlineIoBytesMax ?? 0;
      const inlineWrites = options.inlineWriteBytesMax ?? inline;
      const direct = st.isFile() && options.directIo === true ? await openDirect(path, readOnly) : null;
      return new FileBlockExport(handle, path, options.name, options.description ?? '', readOnly, offsetBytes, sizeBytes, inline, inlineWrites, direct);
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
  }

  get fd(): number {
    return this.handle.fd;
  }

  /** How many NBD connections currently use this export. */
  openerCount(): number {
    return this.openers;
  }

  attach(): void {
    this.openers++;
  }

  detach(): void {
    this.openers--;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const direct = this.direct;
    this.direct = null;
    await direct?.close().catch(() => undefined);
    await this.handle.close();
  }

  /** Whether a transfer of `buffers` at file position `position` may use O_DIRECT. */
  private directFor(position: number, buffers: Buffer[], length: number): FileHandle | null {
    if (this.direct === null || length < DIRECT_IO_MIN_BYTES || position % DIRECT_IO_ALIGN_BYTES !== 0) return null;
    for (const b of buffers) if (!payloadPool.isDirectCapable(b)) return null;
    return this.direct;
  }

  /** A filesystem that refuses an O_DIRECT transfer (EINVAL) gets none again; the transfer is redone through the page cache. */
  private directFailed(err: NodeJS.ErrnoException): boolean {
    if (err.code !== 'EINVAL') return false;
    const direct = this.direct;
    this.direct = null;
    void direct?.close().catch(() => undefined);
    return true;
  }

  private async readDirect(fh: FileHandle, position: number, buf: Buffer): Promise<Buffer | null> {
    try {
      for (let done = 0; done < buf.length; ) {
        const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
        if (bytesRead === 0) {
          buf.fill(0, done);
          break;
        }
        done += bytesRead;
        // A short O_DIRECT read that left the alignment behind is finished through the page cache.
        if (done < buf.length && done % DIRECT_IO_ALIGN_BYTES !== 0) return null;
      }
      return buf;
    } catch (err) {
      if (this.directFailed(err as NodeJS.ErrnoException)) return null;
      throw ioError('read', err as NodeJS.ErrnoException);
    }
  }

  /** Whole write through O_DIRECT; false if the page cache must do it instead. */
  private async writeDirect(fh: FileHandle, position: number, chunks: Buffer[], length: number): Promise<boolean> {
    try {
      const n = chunks.length === 1 ? (await fh.write(chunks[0]!, 0, length, position)).bytesWritten : (await fh.writev(chunks, position)).bytesWritten;
      if (n < length) await this.pwriteAll(position + n, Buffer.concat(chunks, length).subarray(n));
      return true;
    } catch (err) {
      if (this.directFailed(err as NodeJS.ErrnoException)) return false;
      throw ioError('write', err as NodeJS.ErrnoException);
    }
  }

  /**
   * Read into `into` (exactly `length` bytes, e.g. a pooled buffer) or a new buffer. A `bulk`
   * read (one pass over the data, like a resync) goes around the page cache when it can.
   */
  read(offset: number, length: number, into?: Buffer, bulk = false): Promise<Buffer> {
    const bad = this.check(offset, length);
    if (bad) return Promise.reject(bad);
    if (into !== undefined && into.length !== length) return Promise.reject(new RangeError(`read of ${length} bytes into a buffer of ${into.length}`));
    const direct = bulk && into !== undefined ? this.directFor(this.offsetBytes + offset, [into], length) : null;
    if (direct !== null) {
      return this.readDirect(direct, this.offsetBytes + offset, into!).then((b) => b ?? this.read(offset, length, into, false));
    }
    const buf = into ?? Buffer.allocUnsafe(length);
    if (length <= this.inlineIoBytesMax) {
      try {
        const fd = this.handle.fd;
        for (let done = 0; done < length; ) {
          const n = fs.readSync(fd, buf, done, length - done, this.offsetBytes + offset + done);
          if (n === 0) {
            buf.fill(0, done);
            break;
          }
          done += n;
        }
        return Promise.resolve(buf);
      } catch (err) {
        return Promise.reject(ioError('read', err as NodeJS.ErrnoException));
      }
    }
    return new Promise((resolve, reject) => {
      const fd = this.handle.fd;
      const base = this.offsetBytes + offset;
      let done = 0;
      const step = (err: NodeJS.ErrnoException | null, n: number): void => {
        if (err) return reject(ioError('read', err));
        if (n === 0) {
          buf.fill(0, done); // a short file reads as zeroes
          return resolve(buf);
        }
        done += n;
        if (done === length) return resolve(buf);
        fs.read(fd, buf, done, length - done, base + done, step);
      };
      fs.read(fd, buf, 0, length, base, step);
    });
  }

  /** Write `data` at `offset`; a large write goes around the page cache when it can (see directIo). */
  write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    const bad = this.check(offset, data.length);
    if (bad) return Promise.reject(bad);
    if (this.readOnly) return Promise.reject(new BlockIoError(NbdErrno.EPERM, 'export is read-only'));
    const direct = this.directFor(this.offsetBytes + offset, [data], data.length);
    if (direct !== null) {
      const p = this.writeDirect(direct, this.offsetBytes + offset, [data], data.length).then((done) => (done ? undefined : this.pwriteAll(this.offsetBytes + offset, data)));
      return fua ? p.then(() => this.flush()) : p;
    }
    if (!fua && data.length <= this.inlineWriteBytesMax) {
      try {
        const fd = this.handle.fd;
        for (let done = 0; done < data.length; ) {
          done += fs.writeSync(fd, data, done, data.length - done, this.offsetBytes + offset + done);
        }
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(ioError('write', err as NodeJS.ErrnoException));
      }
    }
    const p = this.pwriteAll(this.offsetBytes + offset, data);
    return fua ? p.then(() => this.flush()) : p;
  }

  /** pwritev of the received chunks, no reassembly copy. */
  writeVectored(offset: number, chunks: Buffer[], fua: boolean): Promise<void> {
    let length = 0;
    for (const c of chunks) length += c.length;
    const bad = this.check(offset, length);
    if (bad) return Promise.reject(bad);
    if (this.readOnly) return Promise.reject(new BlockIoError(NbdErrno.EPERM, 'export is read-only'));
    if (chunks.length === 1) return this.write(offset, chunks[0]!, fua);
    const position = this.offsetBytes + offset;
    const direct = this.directFor(position, chunks, length);
    if (direct !== null) {
      const p = this.writeDirect(direct, position, chunks, length).then((done) => (done ? undefined : this.pwriteAll(position, Buffer.concat(chunks, length))));
      return fua ? p.then(() => this.flush()) : p;
    }
    if (!fua && length <= this.inlineWriteBytesMax) {
      try {
        const n = fs.writevSync(this.handle.fd, chunks, position);
        if (n === length) return Promise.resolve();
        return this.pwriteAll(position + n, Buffer.concat(chunks, length).subarray(n));
      } catch (err) {
        return Promise.reject(ioError('write', err as NodeJS.ErrnoException));
      }
    }
    const p = new Promise<void>((resolve, reject) => {
      fs.writev(this.handle.fd, chunks, position, (err, n) => {
        if (err) return reject(ioError('write', err));
        if (n === length) return resolve();
        // Short write (rare): finish the remainder with plain writes.
        const rest = Buffer.concat(chunks, length).subarray(n);
        this.pwriteAll(position + n, rest).then(resolve, reject);
      });
    });
    return fua ? p.then(() => this.flush()) : p;
  }

  flush(): Promise<void> {
    return new Promise((resolve, reject) => {
      fs.fdatasync(this.handle.fd, (err) => (err ? reject(ioError('fdatasync', err)) : resolve()));
    });
  }

  async trim(offset: number, length: number, _fua: boolean): Promise<void> {
    const bad = this.check(offset, length);
    if (bad) throw bad;
    if (this.readOnly) throw new BlockIoError(NbdErrno.EPERM, 'export is read-only');
    // A hint only; node has no portable hole punching. Nothing is written, so FUA has nothing to persist.
  }

  async writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    const bad = this.check(offset, length);
    if (bad) throw bad;
    if (this.readOnly) throw new BlockIoError(NbdErrno.EPERM, 'export is read-only');
    const z = zeroes();
    for (let done = 0; done < length; ) {
      const n = Math.min(z.length, length - done);
      await this.pwriteAll(this.offsetBytes + offset + done, n === z.length ? z : z.subarray(0, n));
      done += n;
    }
    if (fua) await this.flush();
  }

  private pwriteAll(position: number, data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const fd = this.handle.fd;
      const length = data.length;
      let done = 0;
      const step = (err: NodeJS.ErrnoException | null, n: number): void => {
        if (err) return reject(ioError('write', err));
        done += n;
        if (done >= length) return resolve();
        if (n === 0) return reject(new BlockIoError(NbdErrno.EIO, 'write made no progress'));
        fs.write(fd, data, done, length - done, position + done, step);
      };
      fs.write(fd, data, 0, length, position, step);
    });
  }

  /** Defence in depth: the server validates ranges too, but nothing outside the window is ever touched. */
  private check(offset: number, length: number): BlockIoError | null {
    if (this.closed) return new BlockIoError(NbdErrno.ESHUTDOWN, 'export is closed');
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.sizeBytes) {
      return new BlockIoError(NbdErrno.EINVAL, `range ${offset}+${length} outside the export (${this.sizeBytes} bytes)`);
    }
    return null;
  }
}

async function openDirect(path: string, readOnly: boolean): Promise<FileHandle | null> {
  try {
    return await open(path, (readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR) | fs.constants.O_DIRECT);
  } catch {
    return null; // e.g. tmpfs: no O_DIRECT, everything goes through the page cache
  }
}

function ioError(op: string, err: NodeJS.ErrnoException): BlockIoError {
  switch (err.code) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      return new BlockIoError(NbdErrno.ENOSPC, `${op}: ${err.message}`);
    case 'EPERM':
    case 'EACCES':
    case 'EROFS':
      return new BlockIoError(NbdErrno.EPERM, `${op}: ${err.message}`);
    default:
      return new BlockIoError(NbdErrno.EIO, `${op}: ${err.message}`);
  }
}
