// parseDrbdConfig: text in, model out. File access only through the adapters in `opts`.
import { assemble } from './assemble.js';
import { type FileAccess, readWithIncludes } from './includes.js';
import type { DrbdConfig } from './model.js';

export type ParseOptions = FileAccess;

/**
 * Parses a drbd.conf / *.res text. `file` names it in error messages and is
 * the base for relative includes. Without `readFile`/`glob`, an include is an error.
 */
export function parseDrbdConfig(text: string, file: string, opts: ParseOptions = {}): DrbdConfig {
  const { items, files } = readWithIncludes(text, file, opts);
  return assemble(items, files);
}
