// A simple in-memory ExportDirectory: named exports, plus names refused with a reason
// (e.g. a volume that is Secondary: "Wrong medium type", like DRBD's open() refusal).

import type { BlockExport, ExportDirectory, ExportLookup } from './block-export.js';

export class StaticExportDirectory implements ExportDirectory {
  private readonly exports = new Map<string, BlockExport>();
  private readonly refusals = new Map<string, string>();
  /** Export served to clients that ask for the empty ("default") name, if any. */
  defaultName: string | null = null;

  add(exp: BlockExport, options: { default?: boolean } = {}): this {
    this.exports.set(exp.name, exp);
    this.refusals.delete(exp.name);
    if (options.default) this.defaultName = exp.name;
    return this;
  }

  remove(name: string): void {
    this.exports.delete(name);
    this.refusals.delete(name);
  }

  /** Make `name` refused with `reason` until `allow(name)` (the export itself stays registered). */
  refuse(name: string, reason: string): void {
    this.refusals.set(name, reason);
  }

  allow(name: string): void {
    this.refusals.delete(name);
  }

  lookup(name: string): ExportLookup {
    const key = name === '' && this.defaultName !== null ? this.defaultName : name;
    const reason = this.refusals.get(key);
    if (reason !== undefined) return { kind: 'refused', reason };
    const exp = this.exports.get(key);
    return exp !== undefined ? { kind: 'ok', export: exp } : { kind: 'unknown' };
  }

  list(): { name: string; description: string }[] {
    const names = new Set([...this.exports.keys(), ...this.refusals.keys()]);
    return [...names].sort().map((name) => ({ name, description: this.exports.get(name)?.description ?? '' }));
  }
}
