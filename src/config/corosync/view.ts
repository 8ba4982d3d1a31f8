// Read access to a parsed corosync.conf for the checks that build a ClusterConfig: values
// by cmap key, the line to blame for each, and one way to refuse.

import { CorosyncConfigError, type CorosyncConfigErrorCode } from './errors.js';
import type { CorosyncEntry, CorosyncSection, CorosyncTree } from './tree.js';

export class ConfigView {
  constructor(
    readonly tree: CorosyncTree,
    readonly file: string,
  ) {}

  entry(key: string): CorosyncEntry | undefined {
    return this.tree.entries.get(key);
  }

  str(key: string): string | null {
    return this.entry(key)?.value ?? null;
  }

  /** An integer key the parser has already range-checked and normalised; null when absent. */
  int(key: string): number | null {
    const e = this.entry(key);
    return e === undefined ? null : Number(e.value);
  }

  /** corosync's uint8 switches: any nonzero value is on. */
  flag(key: string): boolean | null {
    const n = this.int(key);
    return n === null ? null : n !== 0;
  }

  sections(path: string): CorosyncSection[] {
    return this.tree.sections.filter((s) => s.path === path);
  }

  /** Line of the key; else of the first section named; else 0 (the whole file). */
  lineOf(key: string | null, ...sectionPaths: string[]): number {
    if (key !== null) {
      const e = this.entry(key);
      if (e) return e.line;
    }
    for (const p of sectionPaths) {
      const s = this.sections(p)[0];
      if (s) return s.line;
    }
    return 0;
  }

  fail(code: CorosyncConfigErrorCode, line: number, detail: string): never {
    throw new CorosyncConfigError(code, { file: this.file, line }, detail);
  }
}

/** Quote a value the way corosync's messages do. */
export const q = (v: string): string => `"${v}"`;
