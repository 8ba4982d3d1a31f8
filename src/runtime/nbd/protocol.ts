// NBD wire format: constants, encoders and decoders (doc/proto.md of NetworkBlockDevice/nbd).
// Pure: no sockets, no timers. Both the server and the test client use it.
//
// 64-bit handles are carried as two unsigned 32-bit halves (hi, lo) so the hot path never
// touches BigInt; 64-bit offsets are decoded to a JS number (exact below 2^53, and any value
// at or above 2^53 is certainly past the end of an export, so bounds checks stay correct).

// ---------- magic numbers ----------
export const NBDMAGIC = Buffer.from('NBDMAGIC', 'latin1');
export const IHAVEOPT = Buffer.from('IHAVEOPT', 'latin1');
/** Option reply magic 0x0003e889045565a9, as two 32-bit halves. */
export const OPTION_REPLY_MAGIC_HI = 0x0003e889;
export const OPTION_REPLY_MAGIC_LO = 0x045565a9;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

// ---------- sizes ----------
export const GREETING_BYTES = 18; // NBDMAGIC + IHAVEOPT + 16-bit handshake flags
export const CLIENT_FLAGS_BYTES = 4;
export const OPTION_HEADER_BYTES = 16; // IHAVEOPT + option + length
export const OPTION_REPLY_HEADER_BYTES = 20; // magic(8) + option + type + length
export const REQUEST_HEADER_BYTES = 28;
export const SIMPLE_REPLY_HEADER_BYTES = 16;
export const STRUCTURED_REPLY_HEADER_BYTES = 20;
/** Strings (export names, messages) MUST be no longer than 4096 bytes. */
export const STRING_BYTES_MAX = 4096;

// ---------- handshake flags ----------
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

// ---------- transmission flags ----------
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
export const NBD_FLAG_READ_ONLY = 1 << 1;
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
export const NBD_FLAG_SEND_FUA = 1 << 3;
export const NBD_FLAG_ROTATIONAL = 1 << 4;
export const NBD_FLAG_SEND_TRIM = 1 << 5;
export const NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
export const NBD_FLAG_SEND_DF = 1 << 7;
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8;

// ---------- options ----------
export const NBD_OPT_EXPORT_NAME = 1;
export const NBD_OPT_ABORT = 2;
export const NBD_OPT_LIST = 3;
export const NBD_OPT_STARTTLS = 5;
export const NBD_OPT_INFO = 6;
export const NBD_OPT_GO = 7;
export const NBD_OPT_STRUCTURED_REPLY = 8;
export const NBD_OPT_LIST_META_CONTEXT = 9;
export const NBD_OPT_SET_META_CONTEXT = 10;
export const NBD_OPT_EXTENDED_HEADERS = 11;

// ---------- option reply types ----------
export const NBD_REP_ACK = 1;
export const NBD_REP_SERVER = 2;
export const NBD_REP_INFO = 3;
export const NBD_REP_META_CONTEXT = 4;
const REP_ERR = 0x80000000;
export const NBD_REP_ERR_UNSUP = REP_ERR + 1;
export const NBD_REP_ERR_POLICY = REP_ERR + 2;
export const NBD_REP_ERR_INVALID = REP_ERR + 3;
export const NBD_REP_ERR_PLATFORM = REP_ERR + 4;
export const NBD_REP_ERR_TLS_REQD = REP_ERR + 5;
export const NBD_REP_ERR_UNKNOWN = REP_ERR + 6;
export const NBD_REP_ERR_SHUTDOWN = REP_ERR + 7;
export const NBD_REP_ERR_BLOCK_SIZE_REQD = REP_ERR + 8;
export const NBD_REP_ERR_TOO_BIG = REP_ERR + 9;

export function isOptionReplyError(type: number): boolean {
  return type >= REP_ERR;
}

// ---------- NBD_REP_INFO types ----------
export const NBD_INFO_EXPORT = 0;
export const NBD_INFO_NAME = 1;
export const NBD_INFO_DESCRIPTION = 2;
export const NBD_INFO_BLOCK_SIZE = 3;

// ---------- commands ----------
export const NBD_CMD_READ = 0;
export const NBD_CMD_WRITE = 1;
export const NBD_CMD_DISC = 2;
export const NBD_CMD_FLUSH = 3;
export const NBD_CMD_TRIM = 4;
export const NBD_CMD_CACHE = 5;
export const NBD_CMD_WRITE_ZEROES = 6;
export const NBD_CMD_BLOCK_STATUS = 7;

export const NBD_CMD_FLAG_FUA = 1 << 0;
export const NBD_CMD_FLAG_NO_HOLE = 1 << 1;
export const NBD_CMD_FLAG_DF = 1 << 2;
export const NBD_CMD_FLAG_REQ_ONE = 1 << 3;
export const NBD_CMD_FLAG_FAST_ZERO = 1 << 4;

// ---------- structured replies ----------
export const NBD_REPLY_FLAG_DONE = 1 << 0;
export const NBD_REPLY_TYPE_NONE = 0;
export const NBD_REPLY_TYPE_OFFSET_DATA = 1;
export const NBD_REPLY_TYPE_OFFSET_HOLE = 2;
export const NBD_REPLY_TYPE_BLOCK_STATUS = 5;
export const NBD_REPLY_TYPE_ERROR = (1 << 15) + 1;
export const NBD_REPLY_TYPE_ERROR_OFFSET = (1 << 15) + 2;

const TWO_32 = 4294967296;

// =====================================================================================
// Handshake
// =====================================================================================

/** S: NBDMAGIC, IHAVEOPT, 16-bit handshake flags. */
export function encodeGreeting(handshakeFlags: number): Buffer {
  const b = Buffer.allocUnsafe(GREETING_BYTES);
  NBDMAGIC.copy(b, 0);
  IHAVEOPT.copy(b, 8);
  b.writeUInt16BE(handshakeFlags & 0xffff, 16);
  return b;
}

export function decodeGreeting(b: Buffer): { ok: boolean; handshakeFlags: number } {
  if (b.length < GREETING_BYTES) return { ok: false, handshakeFlags: 0 };
  const ok = b.subarray(0, 8).equals(NBDMAGIC) && b.subarray(8, 16).equals(IHAVEOPT);
  return { ok, handshakeFlags: b.readUInt16BE(16) };
}

export function encodeClientFlags(flags: number): Buffer {
  const b = Buffer.allocUnsafe(CLIENT_FLAGS_BYTES);
  b.writeUInt32BE(flags >>> 0, 0);
  return b;
}

export interface OptionHeader {
  magicOk: boolean;
  option: number;
  length: number;
}

export function decodeOptionHeader(b: Buffer, at = 0): OptionHeader {
  return {
    magicOk: b.subarray(at, at + 8).equals(IHAVEOPT),
    option: b.readUInt32BE(at + 8),
    length: b.readUInt32BE(at + 12),
  };
}

/** C: IHAVEOPT, option, length, data. */
export function encodeOption(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(OPTION_HEADER_BYTES + data.length);
  IHAVEOPT.copy(b, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(data.length, 12);
  data.copy(b, OPTION_HEADER_BYTES);
  return b;
}

/** S: option reply magic, option, reply type, length, data. */
export function encodeOptionReply(option: number, type: number, data: Buffer = EMPTY): Buffer {
  const b = Buffer.allocUnsafe(OPTION_REPLY_HEADER_BYTES + data.length);
  b.writeUInt32BE(OPTION_REPLY_MAGIC_HI, 0);
  b.writeUInt32BE(OPTION_REPLY_MAGIC_LO, 4);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(type >>> 0, 12);
  b.writeUInt32BE(data.length, 16);
  data.copy(b, OPTION_REPLY_HEADER_BYTES);
  return b;
}

export interface OptionReplyHeader {
  magicOk: boolean;
  option: number;
  type: number;
  length: number;
}

export function decodeOptionReplyHeader(b: Buffer, at = 0): OptionReplyHeader {
  return {
    magicOk: b.readUInt32BE(at) === OPTION_REPLY_MAGIC_HI && b.readUInt32BE(at + 4) === OPTION_REPLY_MAGIC_LO,
    option: b.readUInt32BE(at + 8),
    type: b.readUInt32BE(at + 12),
    length: b.readUInt32BE(at + 16),
  };
}

/** Error replies carry a human-readable message; it is truncated to the protocol's string limit. */
export function encodeOptionError(option: number, type: number, message: string): Buffer {
  return encodeOptionReply(option, type, encodeString(message));
}

/** NBD_REP_SERVER data: 32-bit name length, name, description. */
export function encodeRepServer(name: string, description: string): Buffer {
  const n = encodeString(name);
  const d = encodeString(description);
  const b = Buffer.allocUnsafe(4 + n.length + d.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  d.copy(b, 4 + n.length);
  return b;
}

export function decodeRepServer(data: Buffer): { name: string; description: string } | null {
  if (data.length < 4) return null;
  const n = data.readUInt32BE(0);
  if (n > data.length - 4) return null;
  return {
    name: data.toString('utf8', 4, 4 + n),
    description: data.toString('utf8', 4 + n),
  };
}

/** Reply to NBD_OPT_EXPORT_NAME: size, transmission flags, 124 zero bytes unless NO_ZEROES. */
export function encodeExportNameReply(sizeBytes: number, transmissionFlags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(noZeroes ? 10 : 134);
  writeU64(b, sizeBytes, 0);
  b.writeUInt16BE(transmissionFlags & 0xffff, 8);
  return b;
}

export function encodeInfoExport(sizeBytes: number, transmissionFlags: number): Buffer {
  const b = Buffer.allocUnsafe(12);
  b.writeUInt16BE(NBD_INFO_EXPORT, 0);
  writeU64(b, sizeBytes, 2);
  b.writeUInt16BE(transmissionFlags & 0xffff, 10);
  return b;
}

export function encodeInfoString(infoType: typeof NBD_INFO_NAME | typeof NBD_INFO_DESCRIPTION, s: string): Buffer {
  const str = encodeString(s);
  const b = Buffer.allocUnsafe(2 + str.length);
  b.writeUInt16BE(infoType, 0);
  str.copy(b, 2);
  return b;
}

export function encodeInfoBlockSize(minimum: number, preferred: number, maximum: number): Buffer {
  const b = Buffer.allocUnsafe(14);
  b.writeUInt16BE(NBD_INFO_BLOCK_SIZE, 0);
  b.writeUInt32BE(minimum >>> 0, 2);
  b.writeUInt32BE(preferred >>> 0, 6);
  b.writeUInt32BE(maximum >>> 0, 10);
  return b;
}

export type DecodedInfo =
  | { type: typeof NBD_INFO_EXPORT; sizeBytes: number; transmissionFlags: number }
  | { type: typeof NBD_INFO_NAME | typeof NBD_INFO_DESCRIPTION; text: string }
  | { type: typeof NBD_INFO_BLOCK_SIZE; minimum: number; preferred: number; maximum: number }
  | { type: number; raw: Buffer };

export function decodeInfo(data: Buffer): DecodedInfo | null {
  if (data.length < 2) return null;
  const type = data.readUInt16BE(0);
  switch (type) {
    case NBD_INFO_EXPORT:
      if (data.length !== 12) return null;
      return { type, sizeBytes: readU64(data, 2), transmissionFlags: data.readUInt16BE(10) };
    case NBD_INFO_NAME:
    case NBD_INFO_DESCRIPTION:
      return { type, text: data.toString('utf8', 2) };
    case NBD_INFO_BLOCK_SIZE:
      if (data.length !== 14) return null;
      return { type, minimum: data.readUInt32BE(2), preferred: data.readUInt32BE(6), maximum: data.readUInt32BE(10) };
    default:
      return { type, raw: data.subarray(2) };
  }
}

/** Data of NBD_OPT_INFO / NBD_OPT_GO: 32-bit name length, name, 16-bit count, count x 16-bit info types. */
export function encodeInfoRequest(name: string, infoTypes: number[] = []): Buffer {
  const n = Buffer.from(name, 'utf8');
  const b = Buffer.allocUnsafe(4 + n.length + 2 + 2 * infoTypes.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  b.writeUInt16BE(infoTypes.length, 4 + n.length);
  infoTypes.forEach((t, i) => b.writeUInt16BE(t, 6 + n.length + 2 * i));
  return b;
}

export type InfoRequestResult = { ok: true; name: string; infoTypes: number[] } | { ok: false; reason: string };

export function decodeInfoRequest(data: Buffer): InfoRequestResult {
  if (data.length < 6) return { ok: false, reason: `option data too short (${data.length} bytes)` };
  const nameLength = data.readUInt32BE(0);
  if (nameLength > data.length - 6) return { ok: false, reason: `export name length ${nameLength} exceeds option data` };
  if (nameLength > STRING_BYTES_MAX) return { ok: false, reason: `export name longer than ${STRING_BYTES_MAX} bytes` };
  const name = decodeName(data.subarray(4, 4 + nameLength));
  if (name === null) return { ok: false, reason: 'export name is not valid UTF-8 or contains NUL' };
  const count = data.readUInt16BE(4 + nameLength);
  if (data.length !== 6 + nameLength + 2 * count) {
    return { ok: false, reason: `${count} info requests do not match option length ${data.length}` };
  }
  const infoTypes: number[] = [];
  for (let i = 0; i < count; i++) infoTypes.push(data.readUInt16BE(6 + nameLength + 2 * i));
  return { ok: true, name, infoTypes };
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** An export name: valid UTF-8, no NUL, at most 4096 bytes. Returns null otherwise. */
export function decodeName(b: Buffer): string | null {
  if (b.length > STRING_BYTES_MAX) return null;
  let s: string;
  try {
    s = utf8Strict.decode(b);
  } catch {
    return null;
  }
  return s.includes('\0') ? null : s;
}

/** UTF-8 bytes, truncated (on a character boundary) to the protocol's 4096-byte string limit, NULs removed. */
export function encodeString(s: string): Buffer {
  let b = Buffer.from(s.replace(/\0/g, ''), 'utf8');
  if (b.length <= STRING_BYTES_MAX) return b;
  let end = STRING_BYTES_MAX;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--; // do not cut a multi-byte character
  b = b.subarray(0, end);
  return b;
}

// =====================================================================================
// Transmission
// =====================================================================================

export interface RequestHeader {
  magic: number;
  flags: number;
  type: number;
  handleHi: number;
  handleLo: number;
  /** Exact when < 2^53; larger values are past the end of any export. */
  offset: number;
  length: number;
}

export function decodeRequestHeader(b: Buffer, at = 0): RequestHeader {
  return {
    magic: b.readUInt32BE(at),
    flags: b.readUInt16BE(at + 4),
    type: b.readUInt16BE(at + 6),
    handleHi: b.readUInt32BE(at + 8),
    handleLo: b.readUInt32BE(at + 12),
    offset: b.readUInt32BE(at + 16) * TWO_32 + b.readUInt32BE(at + 20),
    length: b.readUInt32BE(at + 24),
  };
}

export interface RequestFields {
  flags?: number;
  type: number;
  handleHi?: number;
  handleLo?: number;
  offset: number | bigint;
  length: number;
}

/** C: request header (the caller appends the payload for WRITE). */
export function encodeRequestHeader(r: RequestFields, magic = REQUEST_MAGIC): Buffer {
  const b = Buffer.allocUnsafe(REQUEST_HEADER_BYTES);
  b.writeUInt32BE(magic >>> 0, 0);
  b.writeUInt16BE((r.flags ?? 0) & 0xffff, 4);
  b.writeUInt16BE(r.type & 0xffff, 6);
  b.writeUInt32BE((r.handleHi ?? 0) >>> 0, 8);
  b.writeUInt32BE((r.handleLo ?? 0) >>> 0, 12);
  b.writeBigUInt64BE(BigInt(r.offset), 16);
  b.writeUInt32BE(r.length >>> 0, 24);
  return b;
}

export function writeSimpleReplyHeader(b: Buffer, at: number, error: number, handleHi: number, handleLo: number): void {
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, at);
  b.writeUInt32BE(error >>> 0, at + 4);
  b.writeUInt32BE(handleHi, at + 8);
  b.writeUInt32BE(handleLo, at + 12);
}

export function encodeSimpleReply(error: number, handleHi: number, handleLo: number): Buffer {
  const b = Buffer.allocUnsafe(SIMPLE_REPLY_HEADER_BYTES);
  writeSimpleReplyHeader(b, 0, error, handleHi, handleLo);
  return b;
}

export function writeStructuredHeader(
  b: Buffer,
  at: number,
  flags: number,
  type: number,
  handleHi: number,
  handleLo: number,
  payloadLength: number,
): void {
  b.writeUInt32BE(STRUCTURED_REPLY_MAGIC, at);
  b.writeUInt16BE(flags, at + 4);
  b.writeUInt16BE(type, at + 6);
  b.writeUInt32BE(handleHi, at + 8);
  b.writeUInt32BE(handleLo, at + 12);
  b.writeUInt32BE(payloadLength >>> 0, at + 16);
}

/** Header of an OFFSET_DATA chunk (28 bytes: chunk header + offset); the data follows. */
export function encodeOffsetDataHeader(
  handleHi: number,
  handleLo: number,
  offset: number,
  dataLength: number,
  done: boolean,
): Buffer {
  const b = Buffer.allocUnsafe(STRUCTURED_REPLY_HEADER_BYTES + 8);
  writeStructuredHeader(b, 0, done ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_OFFSET_DATA, handleHi, handleLo, 8 + dataLength);
  writeU64(b, offset, STRUCTURED_REPLY_HEADER_BYTES);
  return b;
}

export function encodeStructuredNone(handleHi: number, handleLo: number): Buffer {
  const b = Buffer.allocUnsafe(STRUCTURED_REPLY_HEADER_BYTES);
  writeStructuredHeader(b, 0, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, handleHi, handleLo, 0);
  return b;
}

/** A final NBD_REPLY_TYPE_ERROR chunk with a human-readable message. */
export function encodeStructuredError(handleHi: number, handleLo: number, error: number, message: string): Buffer {
  let msg = encodeString(message);
  if (msg.length > 0xffff) msg = msg.subarray(0, 0xffff);
  const b = Buffer.allocUnsafe(STRUCTURED_REPLY_HEADER_BYTES + 6 + msg.length);
  writeStructuredHeader(b, 0, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, handleHi, handleLo, 6 + msg.length);
  b.writeUInt32BE(error >>> 0, STRUCTURED_REPLY_HEADER_BYTES);
  b.writeUInt16BE(msg.length, STRUCTURED_REPLY_HEADER_BYTES + 4);
  msg.copy(b, STRUCTURED_REPLY_HEADER_BYTES + 6);
  return b;
}

export interface ReplyHeader {
  kind: 'simple' | 'structured' | 'bad';
  magic: number;
  /** simple replies */
  error: number;
  /** structured replies */
  flags: number;
  type: number;
  handleHi: number;
  handleLo: number;
  /** structured: payload length; simple: 0 */
  length: number;
  /** bytes consumed by the header */
  headerBytes: number;
}

/** Decode a reply header; needs at least 16 bytes for simple, 20 for structured. */
export function decodeReplyHeader(b: Buffer, at = 0): ReplyHeader {
  const magic = b.readUInt32BE(at);
  if (magic === SIMPLE_REPLY_MAGIC) {
    return {
      kind: 'simple',
      magic,
      error: b.readUInt32BE(at + 4),
      flags: 0,
      type: 0,
      handleHi: b.readUInt32BE(at + 8),
      handleLo: b.readUInt32BE(at + 12),
      length: 0,
      headerBytes: SIMPLE_REPLY_HEADER_BYTES,
    };
  }
  if (magic === STRUCTURED_REPLY_MAGIC) {
    return {
      kind: 'structured',
      magic,
      error: 0,
      flags: b.readUInt16BE(at + 4),
      type: b.readUInt16BE(at + 6),
      handleHi: b.readUInt32BE(at + 8),
      handleLo: b.readUInt32BE(at + 12),
      length: b.readUInt32BE(at + 16),
      headerBytes: STRUCTURED_REPLY_HEADER_BYTES,
    };
  }
  return { kind: 'bad', magic, error: 0, flags: 0, type: 0, handleHi: 0, handleLo: 0, length: 0, headerBytes: 0 };
}

export function decodeStructuredError(payload: Buffer): { error: number; message: string } | null {
  if (payload.length < 6) return null;
  const n = payload.readUInt16BE(4);
  if (n > payload.length - 6) return null;
  return { error: payload.readUInt32BE(0), message: payload.toString('utf8', 6, 6 + n) };
}

// ---------- helpers ----------
const EMPTY = Buffer.alloc(0);

export function writeU64(b: Buffer, value: number, at: number): void {
  b.writeUInt32BE(Math.floor(value / TWO_32) >>> 0, at);
  b.writeUInt32BE(value >>> 0, at + 4);
}

export function readU64(b: Buffer, at: number): number {
  return b.readUInt32BE(at) * TWO_32 + b.readUInt32BE(at + 4);
}

export const COMMAND_NAMES: Record<number, string> = {
  [NBD_CMD_READ]: 'READ',
  [NBD_CMD_WRITE]: 'WRITE',
  [NBD_CMD_DISC]: 'DISC',
  [NBD_CMD_FLUSH]: 'FLUSH',
  [NBD_CMD_TRIM]: 'TRIM',
  [NBD_CMD_CACHE]: 'CACHE',
  [NBD_CMD_WRITE_ZEROES]: 'WRITE_ZEROES',
  [NBD_CMD_BLOCK_STATUS]: 'BLOCK_STATUS',
};

export const OPTION_NAMES: Record<number, string> = {
  [NBD_OPT_EXPORT_NAME]: 'EXPORT_NAME',
  [NBD_OPT_ABORT]: 'ABORT',
  [NBD_OPT_LIST]: 'LIST',
  [NBD_OPT_STARTTLS]: 'STARTTLS',
  [NBD_OPT_INFO]: 'INFO',
  [NBD_OPT_GO]: 'GO',
  [NBD_OPT_STRUCTURED_REPLY]: 'STRUCTURED_REPLY',
  [NBD_OPT_LIST_META_CONTEXT]: 'LIST_META_CONTEXT',
  [NBD_OPT_SET_META_CONTEXT]: 'SET_META_CONTEXT',
  [NBD_OPT_EXTENDED_HEADERS]: 'EXTENDED_HEADERS',
};
