// The daemon's NBD export names. Users and tools see one export per volume
// ("r0", or "r0/1" for volume 1); the local block device uses a private name per
// volume that stays connectable across role changes and refuses I/O while Secondary.

import type { ExportDirectory, ExportLookup } from '../runtime/nbd/block-export.js';
import type { BlockExport } from '../runtime/nbd/block-export.js';

export const publicExportName = (resource: string, volume: number): string =>
  volume === 0 ? resource : `${resource}/${volume}`;
export const deviceExportName = (resource: string, volume: number): string => `${resource}@device/${volume}`;

interface Entry {
  export: BlockExport;
  /** Public exports ask this at connect time; the device export never refuses at connect. */
  refusal: () => string | null;
  listed: boolean;
}

export class VolumeExportDirectory implements ExportDirectory {
  private readonly entries = new Map<string, Entry>();

  register(name: string, exp: BlockExport, opts: { refusal: () => string | null; listed: boolean }): void {
    this.entries.set(name, { export: exp, refusal: opts.refusal, listed: opts.listed });
  }

  unregister(name: string): void {
    this.entries.delete(name);
  }

  lookup(name: string): ExportLookup {
    // Clients that ask for the default export ("") get volume 0 of the only resource, if unambiguous.
    const entry = this.entries.get(name) ?? (name === '' ? this.onlyListed() : undefined);
    if (!entry) return { kind: 'unknown' };
    const reason = entry.refusal();
    if (reason !== null) return { kind: 'refused', reason };
    return { kind: 'ok', export: entry.export };
  }

  private onlyListed(): Entry | undefined {
    const listed = [...this.entries.values()].filter((e) => e.listed);
    return listed.length === 1 ? listed[0] : undefined;
  }

  list(): { name: string; description: string }[] {
    return [...this.entries.entries()]
      .filter(([, e]) => e.listed)
      .map(([name, e]) => ({ name, description: e.export.description }));
  }
}
