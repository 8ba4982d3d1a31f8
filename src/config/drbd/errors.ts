// One error type for everything the drbd.conf reader refuses, so callers can
// print `FILE:LINE:COLUMN: message` and branch on a stable `code`.
import type { SourceLocation } from './model.js';

export type DrbdConfigErrorCode =
  | 'DRBD_CONF_SYNTAX'
  | 'DRBD_CONF_UNKNOWN_OPTION'
  | 'DRBD_CONF_UNKNOWN_KEYWORD'
  | 'DRBD_CONF_UNCLOSED_SECTION'
  | 'DRBD_CONF_BAD_VALUE'
  | 'DRBD_CONF_DUPLICATE'
  | 'DRBD_CONF_INCLUDE'
  | 'DRBD_CONF_MISSING'
  | 'DRBD_CONF_NOT_FOUND';

export class DrbdConfigError extends Error {
  readonly code: DrbdConfigErrorCode;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The message without the `FILE:LINE:COLUMN: ` prefix. */
  readonly detail: string;

  constructor(code: DrbdConfigErrorCode, at: SourceLocation, detail: string) {
    super(`${at.file}:${at.line}:${at.column}: ${detail}`);
    this.name = 'DrbdConfigError';
    this.code = code;
    this.file = at.file;
    this.line = at.line;
    this.column = at.column;
    this.detail = detail;
  }
}

/** `3:9` — used inside messages that refer to a second place in the same file. */
export function where(at: SourceLocation, relativeTo?: string): string {
  return at.file === relativeTo ? `line ${at.line}, column ${at.column}` : `${at.file}:${at.line}:${at.column}`;
}
