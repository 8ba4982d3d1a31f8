// Byte ranges of a volume with I/O in flight. Overlapping operations run one after
// the other in arrival order, so every replica applies overlapping writes in the same
// order and a resync read never races an application write to the same block.

interface Held {
  start: number;
  end: number;
}

interface Waiter extends Held {
  grant: () => void;
}

export class RangeLocks {
  private readonly held: Held[] = [];
  private readonly waiting: Waiter[] = [];

  private overlapsHeld(start: number, end: number): boolean {
    return this.held.some((h) => h.start < end && start < h.end);
  }

  /** Runs `grant` now if [offset, offset+length) is free and nobody earlier waits for it, else later. */
  acquire(offset: number, length: number, grant: () => void): void {
    const start = offset;
    const end = offset + length;
    const earlierWaiter = this.waiting.some((w) => w.start < end && start < w.end);
    if (!earlierWaiter && !this.overlapsHeld(start, end)) {
      this.held.push({ start, end });
      grant();
      return;
    }
    this.waiting.push({ start, end, grant });
  }

  release(offset: number, length: number): void {
    const i = this.held.findIndex((h) => h.start === offset && h.end === offset + length);
    if (i < 0) throw new Error(`range lock: release of [${offset}, ${offset + length}) that is not held`);
    this.held.splice(i, 1);
    // Grant waiters in order; a waiter blocked by an earlier waiter keeps its place.
    const still: Waiter[] = [];
    const granted: Waiter[] = [];
    for (const w of this.waiting) {
      const blocked = this.overlapsHeld(w.start, w.end) || still.some((s) => s.start < w.end && w.start < s.end);
      if (blocked) still.push(w);
      else {
        this.held.push({ start: w.start, end: w.end });
        granted.push(w);
      }
    }
    this.waiting.length = 0;
    this.waiting.push(...still);
    for (const g of granted) g.grant();
  }

  get heldCount(): number {
    return this.held.length;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }
}
