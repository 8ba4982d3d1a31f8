// A volume's backing store (or an external meta device): a regular file or a block
// device, opened for positioned reads and writes. Also: filesystem signature probing
// for the create-md guard.

import { execFile } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';

export type BackingDeviceErrorCode = 'ENOENT' | 'EACCES' | 'ENOTBLK' | 'EROFS' | 'ERANGE' | 'ESIZE' | 'EIO';

export class BackingDeviceError extends Error {
  override readonly name = 'BackingDeviceError';
  constructor(
    readonly code: BackingDeviceErrorCode,
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}

export interface BackingDevice {
  readonly path: string;
  readonly sizeBytes: number;
  readonly isBlockDevice: boolean;
  readonly readOnly: boolean;
  read(offsetBytes: number, lengthBytes: number): Promise<Buffer>;
  write(offsetBytes: number, buf: Uint8Array): Promise<void>;
  /**
   * Write and make just these bytes durable (O_DSYNC: the range's pages, the metadata
   * needed to read them back, and a cache flush), like a FUA write to the block device.
   * Unlike write() + datasync(), other dirty pages of the file are not waited for, which
   * matters for internal metadata: it shares its file with the volume's data.
   */
  writeDurable(offsetBytes: number, buf: Uint8Array): Promise<void>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenBackingDeviceOptions {
  readOnly?: boolean;
  /** What the path is, for messages ("backing disk", "meta disk"). */
  role?: string;
}

export async function openBackingDevice(path: string, opts: OpenBackingDeviceOptions = {}): Promise<BackingDevice> {
  const role = opts.role ?? 'backing disk';
  const readOnly = opts.readOnly ?? false;
  let st;
  try {
    st = await stat(path, { bigint: true });
  } catch (e) {
    throw translate(e, path, role);
  }
  const isBlockDevice = st.isBlockDevice();
  if (!isBlockDevice && !st.isFile()) {
    throw new BackingDeviceError('ENOTBLK', `ENOTBLK: ${role} ${path} is neither a regular file nor a block device`, path);
  }
  let fh: FileHandle;
  try {
    fh = await open(path, readOnly ? fsc.O_RDONLY : fsc.O_RDWR);
  } catch (e) {
    throw translate(e, path, role);
  }
  try {
    const sizeBytes = isBlockDevice ? await blockDeviceSize(path, st.rdev) : Number(st.size);
    return new FileBackingDevice(path, fh, sizeBytes, isBlockDevice, readOnly, role);
  } catch (e) {
    await fh.close();
    throw e;
  }
}

class FileBackingDevice implements BackingDevice {
  private closed = false;
  /** A second descriptor opened with O_DSYNC, for writeDurable (opened on first use). */
  private durable: Promise<FileHandle> | null = null;
  constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly sizeBytes: number,
    readonly isBlockDevice: boolean,
    readonly readOnly: boolean,
    private readonly role: string,
  ) {}

  async read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    this.checkRange(offsetBytes, lengthBytes, 'read');
    const buf = Buffer.alloc(lengthBytes);
    let done = 0;
    while (done < lengthBytes) {
      const { bytesRead } = await this.io(() => this.fh.read(buf, done, lengthBytes - done, offsetBytes + done));
      if (bytesRead === 0) {
        throw new BackingDeviceError('EIO', `EIO: short read from ${this.role} ${this.path} at offset ${offsetBytes + done}`, this.path);
      }
      done += bytesRead;
    }
    return buf;
  }

  async write(offsetBytes: number, buf: Uint8Array): Promise<void> {
    if (this.readOnly) throw new BackingDeviceError('EROFS', `EROFS: ${this.role} ${this.path} was opened read-only`, this.path);
    this.checkRange(offsetBytes, buf.byteLength, 'write');
    let done = 0;
    while (done < buf.byteLength) {
      const { bytesWritten } = await this.io(() => this.fh.write(buf, done, buf.byteLength - done, offsetBytes + done));
      done += bytesWritten;
    }
  }

  async writeDurable(offsetBytes: number, buf: Uint8Array): Promise<void> {
    if (this.readOnly) throw new BackingDeviceError('EROFS', `EROFS: ${this.role} ${this.path} was opened read-only`, this.path);
    this.checkRange(offsetBytes, buf.byteLength, 'write');
    if (this.durable === null) {
      this.durable = open(this.path, fsc.O_RDWR | fsc.O_DSYNC);
      this.durable.catch(() => (this.durable = null));
    }
    const fh = await this.io(() => this.durable!);
    let done = 0;
    while (done < buf.byteLength) {
      const { bytesWritten } = await this.io(() => fh.write(buf, done, buf.byteLength - done, offsetBytes + done));
      done += bytesWritten;
    }
  }

  async datasync(): Promise<void> {
    await this.io(() => this.fh.datasync());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const durable = this.durable;
    this.durable = null;
    if (durable) await durable.then((fh) => fh.close()).catch(() => undefined);
    await this.fh.close();
  }

  private checkRange(offsetBytes: number, lengthBytes: number, what: string): void {
    if (this.closed) throw new Error(`${this.role} ${this.path} is closed`);
    if (!Number.isSafeInteger(offsetBytes) || !Number.isSafeInteger(lengthBytes) || offsetBytes < 0 || lengthBytes < 0 || offsetBytes + lengthBytes > this.sizeBytes) {
      throw new BackingDeviceError(
        'ERANGE',
        `ERANGE: ${what} of ${lengthBytes} bytes at offset ${offsetBytes} is outside ${this.role} ${this.path} (${this.sizeBytes} bytes)`,
        this.path,
      );
    }
  }

  private async io<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw translate(e, this.path, this.role);
    }
  }
}

/** Linux dev_t decoding (glibc's gnu_dev_major / gnu_dev_minor). */
export function devMajorMinor(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n));
  return { major, minor };
}

/**
 * Size of a block device: stat says 0 and Node has no BLKGETSIZE64 ioctl, so read
 * /sys/dev/block/MAJ:MIN/size (512-byte sectors); fall back to `blockdev --getsize64`.
 */
async function blockDeviceSize(path: string, rdev: bigint): Promise<number> {
  const { major, minor } = devMajorMinor(rdev);
  try {
    const text = await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
    const sectors = Number(text.trim());
    if (Number.isSafeInteger(sectors) && sectors >= 0) return sectors * 512;
  } catch {
    // fall through
  }
  try {
    const { stdout } = await promisify(execFile)('blockdev', ['--getsize64', path]);
    const n = Number(stdout.trim());
    if (Number.isSafeInteger(n) && n >= 0) return n;
  } catch {
    // fall through
  }
  throw new BackingDeviceError(
    'ESIZE',
    `cannot determine the size of block device ${path} (${major}:${minor}): neither /sys/dev/block/${major}:${minor}/size nor \`blockdev --getsize64\` answered`,
    path,
  );
}

function translate(e: unknown, path: string, role: string): Error {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return new BackingDeviceError('ENOENT', `ENOENT: ${role} ${path} does not exist`, path);
    case 'EACCES':
    case 'EPERM':
      return new BackingDeviceError('EACCES', `EACCES: permission denied opening ${role} ${path}`, path);
    case 'EROFS':
      return new BackingDeviceError('EROFS', `EROFS: ${role} ${path} is on a read-only filesystem or device`, path);
    case 'ENOTDIR':
      return new BackingDeviceError('ENOENT', `ENOENT: ${role} ${path} does not exist (a path component is not a directory)`, path);
    default:
      if (e instanceof Error) return new BackingDeviceError('EIO', `${code ?? 'EIO'}: I/O error on ${role} ${path}: ${e.message}`, path);
      return new BackingDeviceError('EIO', `EIO: I/O error on ${role} ${path}`, path);
  }
}

export interface FilesystemSignature {
  /** e.g. 'ext4', 'xfs', 'btrfs', 'swap', 'LUKS', 'GPT partition table', 'DOS partition table or boot sector'. */
  name: string;
  /** Where on the device the probed area starts (the `offsetBytes` passed in). */
  offsetBytes: number;
  /** Size the filesystem says it spans, when the superblock tells (ext*, xfs, btrfs, swap); else null. */
  sizeBytes: number | null;
}

/** Bytes needed to probe every signature we know (btrfs superblock at 64 KiB). */
export const SIGNATURE_PROBE_BYTES = 0x10000 + 4096;

/**
 * Look for well-known signatures in a device image starting at `offsetBytes` of
 * `dev` (default 0). Returns the first match or null.
 */
export async function detectFilesystemSignature(dev: BackingDevice, offsetBytes = 0): Promise<FilesystemSignature | null> {
  const len = Math.min(SIGNATURE_PROBE_BYTES, dev.sizeBytes - offsetBytes);
  if (len <= 0) return null;
  const head = await dev.read(offsetBytes, len);
  const found = probeSignature(head);
  return found === null ? null : { ...found, offsetBytes };
}

/** Pure part of detectFilesystemSignature: probe the first bytes of a device. */
export function probeSignature(b: Buffer): Omit<FilesystemSignature, 'offsetBytes'> | null {
  const has = (off: number, sig: Buffer | string): boolean => {
    const s = typeof sig === 'string' ? Buffer.from(sig, 'latin1') : sig;
    return b.length >= off + s.length && b.subarray(off, off + s.length).equals(s);
  };
  if (has(0, Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]))) return { name: 'LUKS', sizeBytes: null };
  if (has(0, 'XFSB') && b.length >= 16) {
    const blockSize = b.readUInt32BE(4);
    const dblocks = b.readBigUInt64BE(8);
    return { name: 'xfs', sizeBytes: Number(dblocks) * blockSize };
  }
  if (b.length >= 1024 + 0x158 && b.readUInt16LE(1080) === 0xef53) {
    const sb = b.subarray(1024);
    const logBlock = sb.readUInt32LE(0x18);
    const blockSize = logBlock < 32 ? 1024 * 2 ** logBlock : 0;
    const compat = sb.readUInt32LE(0x5c);
    const incompat = sb.readUInt32LE(0x60);
    const roCompat = sb.readUInt32LE(0x64);
    const is64 = (incompat & 0x80) !== 0;
    const blocks = BigInt(sb.readUInt32LE(0x04)) + (is64 ? BigInt(sb.readUInt32LE(0x150)) << 32n : 0n);
    // ext4-only features: extents, 64bit, mmp, flex_bg, ... / huge_file, gdt_csum, dir_nlink, extra_isize, metadata_csum
    const ext4 = (incompat & ~0x1f) !== 0 || (roCompat & ~0x7) !== 0;
    const name = ext4 ? 'ext4' : (compat & 0x4) !== 0 ? 'ext3' : 'ext2';
    return { name, sizeBytes: blockSize > 0 ? Number(blocks) * blockSize : null };
  }
  if (has(65600, '_BHRfS_M') && b.length >= 0x10000 + 0x78) {
    return { name: 'btrfs', sizeBytes: Number(b.readBigUInt64LE(0x10000 + 0x70)) };
  }
  if (has(4086, 'SWAPSPACE2') || has(4086, 'SWAP-SPACE')) {
    const lastPage = b.length >= 1032 ? b.readUInt32LE(1028) : 0;
    return { name: 'swap', sizeBytes: lastPage > 0 ? (lastPage + 1) * 4096 : null };
  }
  if (has(512, 'EFI PART')) return { name: 'GPT partition table', sizeBytes: null };
  if (b.length >= 512 && b.readUInt16LE(510) === 0xaa55) return { name: 'DOS partition table or boot sector', sizeBytes: null };
  return null;
}
