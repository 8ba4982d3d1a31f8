// The contract between the NBD server and whatever stores the bytes.
// The server validates every request (bounds, sizes, flags) before calling in,
// so implementations may assume offset + length <= sizeBytes.

/** An NBD error the server sends back as-is (NBD_EPERM, NBD_EIO, ...), with a reason for the log. */
export class BlockIoError extends Error {
  constructor(
    readonly nbdErrno: NbdErrno,
    message: string,
  ) {
    super(message);
    this.name = 'BlockIoError';
  }
}

/** Error values from the NBD protocol (doc/proto.md "Error values"). */
export enum NbdErrno {
  EPERM = 1,
  EIO = 5,
  ENOMEM = 12,
  EINVAL = 22,
  ENOSPC = 28,
  EOVERFLOW = 75,
  ENOTSUP = 95,
  ESHUTDOWN = 108,
}

export interface BlockExport {
  readonly name: string;
  readonly description: string;
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  read(offset: number, length: number): Promise<Buffer>;
  /** With fua, the data is on stable storage when the promise resolves. */
  write(offset: number, data: Buffer, fua: boolean): Promise<void>;
  /** Everything completed before this call is on stable storage when it resolves. */
  flush(): Promise<void>;
  trim(offset: number, length: number, fua: boolean): Promise<void>;
  writeZeroes(offset: number, length: number, fua: boolean): Promise<void>;
  /** Called when a client connects/disconnects through this export, so the owner can count openers. */
  attach?(): void;
  detach?(): void;
}

/**
 * How the server finds an export by the name a client asked for.
 * `refused` carries the reason a client sees in NBD_REP_ERR_POLICY (e.g. "Wrong medium type").
 */
export type ExportLookup =
  | { kind: 'ok'; export: BlockExport }
  | { kind: 'unknown' }
  | { kind: 'refused'; reason: string };

export interface ExportDirectory {
  lookup(name: string): ExportLookup;
  /** Names listed by NBD_OPT_LIST. */
  list(): { name: string; description: string }[];
}

/**
 * Optional extension: a write given as a list of buffers (views of received network chunks),
 * so large payloads reach storage without being reassembled first. Same semantics as write().
 */
export interface VectoredBlockExport extends BlockExport {
  writeVectored(offset: number, chunks: Buffer[], fua: boolean): Promise<void>;
}

export function isVectored(exp: BlockExport): exp is VectoredBlockExport {
  return typeof (exp as Partial<VectoredBlockExport>).writeVectored === 'function';
}
