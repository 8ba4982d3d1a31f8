// One error type for everything the corosync.conf reader refuses. Grammar and typed-value
// errors read exactly like corosync's own (`parser error: FILE:LINE: message`), so users can
// search for the text they know; checks corosync only makes later (or not at all) still name
// the file and the line of the key or section involved.

export type CorosyncConfigErrorCode =
  /** The line-based grammar: braces, `key: value`, line length. */
  | 'COROSYNC_CONF_SYNTAX'
  /** A value corosync's parser refuses (integer range, enum, key name). */
  | 'COROSYNC_CONF_BAD_VALUE'
  /** Something required is absent (totem.version, nodelist, a node's ring0_addr, ...). */
  | 'COROSYNC_CONF_MISSING'
  /** Options that cannot be used together (two_node with a quorum device, ...). */
  | 'COROSYNC_CONF_CONFLICT'
  /** Valid for corosync, but not something our engine can run. */
  | 'COROSYNC_CONF_UNSUPPORTED'
  /** The file could not be read. */
  | 'COROSYNC_CONF_READ';

export class CorosyncConfigError extends Error {
  readonly code: CorosyncConfigErrorCode;
  readonly file: string;
  /** 1-based line; 0 when the problem is the file as a whole (a missing section). */
  readonly line: number;
  /** The message without the location prefix. */
  readonly detail: string;
  /** True for errors corosync's parser reports itself while reading (grammar and typed keys). */
  readonly fromParser: boolean;

  constructor(code: CorosyncConfigErrorCode, at: { file: string; line: number }, detail: string, fromParser = false) {
    super(
      fromParser
        ? `parser error: ${at.file}:${at.line}: ${detail}`
        : at.line > 0
          ? `${at.file}:${at.line}: ${detail}`
          : `${at.file}: ${detail}`,
    );
    this.name = 'CorosyncConfigError';
    this.code = code;
    this.file = at.file;
    this.line = at.line;
    this.detail = detail;
    this.fromParser = fromParser;
  }
}
