// Errors about a volume's on-disk meta data. One class, a stable `code` per kind of
// problem (callers and tests switch on the code, never on the wording).

export type MetadataErrorCode =
  /** No safeside superblock where one should be. */
  | 'MD_NO_MAGIC'
  /** A safeside superblock whose CRC32C does not match its content. */
  | 'MD_BAD_CHECKSUM'
  /** A safeside superblock written by a newer (or unknown) format version. */
  | 'MD_UNSUPPORTED_VERSION'
  /** A field out of range, or offsets that disagree with the device's layout. */
  | 'MD_BAD_FIELD'
  /** Real DRBD 8.4/9 meta data (we recognise it but do not convert it). */
  | 'MD_FOREIGN_DRBD'
  /** create-md without --force on a device that already holds meta data. */
  | 'MD_EXISTS'
  /** create-md without --force on a device that seems to hold a filesystem or other data. */
  | 'MD_FOUND_DATA'
  /** The backing (or meta) device cannot hold the meta data plus a minimum of data. */
  | 'MD_DEVICE_TOO_SMALL'
  /** Larger than the layout arithmetic supports (1 PiB). */
  | 'MD_DEVICE_TOO_LARGE'
  /** The volume has no backing disk (`disk none`), or the meta device is missing. */
  | 'MD_NO_DEVICE'
  /** An activity-log block that is not one (bad magic / checksum / fields). */
  | 'MD_BAD_AL_BLOCK';

export class MetadataError extends Error {
  override readonly name = 'MetadataError';
  readonly code: MetadataErrorCode;

  constructor(code: MetadataErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
