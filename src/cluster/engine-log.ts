// The replicated log of one node: entries from `start` on, after a compacted prefix
// whose last term is remembered. Indices start at 1; index 0 is the empty log.

import type { Entry } from './engine-messages.js';

export class RaftLog {
  private entries: Entry[] = [];
  /** Index of entries[0]. */
  private startIndex = 1;
  /** Term of the entry at startIndex - 1 (the compacted prefix), 0 for none. */
  private baseTerm = 0;
  /** Bumped on every change, so that derived values can be cached. */
  version = 0;

  get start(): number {
    return this.startIndex;
  }

  get lastIndex(): number {
    return this.startIndex - 1 + this.entries.length;
  }

  get lastTerm(): number {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1]!.term : this.baseTerm;
  }

  get length(): number {
    return this.entries.length;
  }

  /** Term at index, for indices from start - 1 to lastIndex; undefined elsewhere. */
  termAt(index: number): number | undefined {
    if (index === this.startIndex - 1) return this.baseTerm;
    if (index < this.startIndex || index > this.lastIndex) return undefined;
    return this.entries[index - this.startIndex]!.term;
  }

  at(index: number): Entry {
    const e = this.entries[index - this.startIndex];
    if (!e) throw new RangeError(`log entry ${index} is not held (held: ${this.startIndex}..${this.lastIndex})`);
    return e;
  }

  append(e: Entry): number {
    this.version++;
    this.entries.push(e);
    return this.lastIndex;
  }

  /** Drop index and everything after it. */
  truncateFrom(index: number): void {
    if (index < this.startIndex) throw new RangeError(`cannot truncate at ${index}: entries before ${this.startIndex} are compacted`);
    this.version++;
    this.entries.length = Math.max(0, index - this.startIndex);
  }

  /** Up to `max` entries from `from` on. */
  slice(from: number, max: number): Entry[] {
    const i = from - this.startIndex;
    if (i < 0) throw new RangeError(`log entries from ${from} are compacted (held from ${this.startIndex})`);
    return this.entries.slice(i, i + max);
  }

  /** Forget entries up to and including index (they are applied). */
  compactTo(index: number): void {
    if (index < this.startIndex) return;
    if (index > this.lastIndex) throw new RangeError(`cannot compact to ${index}: last index is ${this.lastIndex}`);
    this.version++;
    this.baseTerm = this.termAt(index)!;
    this.entries = this.entries.slice(index - this.startIndex + 1);
    this.startIndex = index + 1;
  }

  /** Replace everything by an empty log after (index, term): a snapshot was installed. */
  reset(index: number, term: number): void {
    this.version++;
    this.entries = [];
    this.startIndex = index + 1;
    this.baseTerm = term;
  }
}
