// Follows `include "glob";` the way drbdadm does: relative to the including
// file's directory, a pattern that matches nothing is ignored, a literal
// name that cannot be read is an error, a file already read is skipped,
// nesting stops at 10. File access goes through the adapters passed in.
import * as path from 'node:path';
import { DrbdConfigError } from './errors.js';
import type { SourceLocation } from './model.js';
import { parseFile } from './parser.js';
import type { TopItem } from './syntax.js';

export interface FileAccess {
  /** Returns the file's text; throws (any error) if it cannot be read. */
  readFile?: (path: string) => string;
  /** Paths matching `pattern` (relative to `baseDir` unless absolute), sorted. */
  glob?: (pattern: string, baseDir: string) => string[];
}

/** drbdadm's limit on include depth. */
export const MAX_INCLUDE_DEPTH = 10;

export function hasGlobMagic(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/** Parses `text` and every file it includes; returns the items in reading order and the files read. */
export function readWithIncludes(text: string, file: string, access: FileAccess): { items: TopItem[]; files: string[] } {
  const files: string[] = [file];
  const seen = new Set<string>([path.normalize(file)]);
  const items: TopItem[] = [];

  const visit = (fileItems: TopItem[], fromFile: string, depth: number): void => {
    for (const item of fileItems) {
      if (item.kind !== 'include') {
        items.push(item);
        continue;
      }
      if (depth >= MAX_INCLUDE_DEPTH) {
        throw new DrbdConfigError('DRBD_CONF_INCLUDE', item.at,
          `include '${item.pattern}' nested too deep (more than ${MAX_INCLUDE_DEPTH} levels); expected fewer nested includes (an include loop?)`);
      }
      for (const target of resolveInclude(item.pattern, item.at, fromFile, access)) {
        const key = path.normalize(target);
        if (seen.has(key)) continue; // drbdadm reads each file once
        seen.add(key);
        let content: string;
        try {
          content = access.readFile!(target);
        } catch (e) {
          throw new DrbdConfigError('DRBD_CONF_INCLUDE', item.at,
            `cannot read included file '${target}': ${(e as Error).message}; expected a readable file`);
        }
        files.push(target);
        visit(parseFile(content, target), target, depth + 1);
      }
    }
  };

  visit(parseFile(text, file), file, 0);
  return { items, files };
}

function resolveInclude(pattern: string, at: SourceLocation, fromFile: string, access: FileAccess): string[] {
  if (access.readFile === undefined) {
    throw new DrbdConfigError('DRBD_CONF_INCLUDE', at,
      `cannot follow include '${pattern}': no file reader was given; expected parseDrbdConfig(..., { readFile, glob }) or loadDrbdConfig()`);
  }
  const baseDir = path.dirname(fromFile);
  if (!hasGlobMagic(pattern)) return [path.isAbsolute(pattern) ? pattern : path.join(baseDir, pattern)];
  if (access.glob === undefined) {
    throw new DrbdConfigError('DRBD_CONF_INCLUDE', at,
      `cannot expand include pattern '${pattern}': no glob function was given; expected parseDrbdConfig(..., { readFile, glob })`);
  }
  return access.glob(pattern, baseDir);
}
