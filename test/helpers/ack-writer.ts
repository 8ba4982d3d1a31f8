// A write checker that speaks NBD itself: it keeps `queueDepth` writes of unique,
// self-describing 4 KiB blocks in flight against an export and records which writes were
// acknowledged. After a crash, check() reads the region back (from the same node or a
// survivor) and proves that every acknowledged write is there.
//
// Why not fio's verify_state_save/verify_state_load: with the nbd engine, when the server
// dies fio ends the job with an error and its saved state counts the writes that were in
// flight as written, so --verify_only then reports the unacknowledged blocks as failures
// (seen with fio 3.33). Here every write is classified exactly: acknowledged, or in flight
// (may or may not have landed).
//
// Layout: the region is cut into slots of `slotBlocks` 4 KiB blocks. A write starts at a
// slot boundary and covers 1..slotBlocks blocks (4 KiB..64 KiB by default). At most one
// write per slot is in flight, so for every block the acceptable contents after a crash
// are: the last acknowledged write covering it (or zeros if none) or the write covering it
// that was in flight when the connection died. Each block carries a header (magic, block
// number, generation) and a filler derived from both, so a misplaced or stale block is
// caught, not only a missing one.

import * as P from '../../src/runtime/nbd/protocol.js';
import { RawClient } from './nbd.js';
import { parseNbdUnixUri } from './two-node.js';

export const BLOCK_BYTES = 4096;
const MAGIC = Buffer.from('SSACKWR1', 'latin1');

export function blockContent(block: number, gen: number): Buffer {
  const b = Buffer.allocUnsafe(BLOCK_BYTES);
  MAGIC.copy(b, 0);
  b.writeUInt32BE(block, 8);
  b.writeUInt32BE(gen, 12);
  // xorshift32 filler seeded by (block, gen): unique per block and generation.
  let x = (Math.imul(block + 1, 0x9e3779b1) ^ Math.imul(gen + 1, 0x85ebca6b)) >>> 0 || 1;
  for (let i = 16; i < BLOCK_BYTES; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32BE(x, i);
  }
  return b;
}

interface InFlight {
  slot: number;
  firstBlock: number;
  blocks: number;
  gen: number;
}

export interface AckWriterOptions {
  uri: string;
  /** Region under test: [offsetBytes, offsetBytes + slots × slotBlocks × 4 KiB). */
  offsetBytes?: number;
  slots: number;
  slotBlocks?: number;
  queueDepth?: number;
  seed?: number;
  /** Stop issuing after this many acknowledged writes (default: until the connection dies or stop()). */
  ackedWritesMax?: number;
}

export interface CheckResult {
  blocksChecked: number;
  /** Blocks whose content was the acknowledged generation (or zeros where none was acked). */
  blocksAsAcked: number;
  /** Blocks that had an unacknowledged write in flight and show it. */
  blocksFromInFlight: number;
  failures: string[];
}

export class AckWriter {
  readonly slotBlocks: number;
  readonly queueDepth: number;
  readonly offsetBytes: number;
  /** Last acknowledged generation per block (0 = never written). */
  readonly acked: Uint32Array;
  /** Generation in flight per block when the run ended (0 = none). */
  readonly maybe: Uint32Array;
  ackedWrites = 0;
  ackedBytes = 0;
  failedWrites = 0;
  endReason = '';
  private client: RawClient | null = null;
  private stopping = false;
  private rng: number;

  constructor(readonly options: AckWriterOptions) {
    this.slotBlocks = options.slotBlocks ?? 16;
    this.queueDepth = options.queueDepth ?? 8;
    this.offsetBytes = options.offsetBytes ?? 0;
    this.acked = new Uint32Array(options.slots * this.slotBlocks);
    this.maybe = new Uint32Array(options.slots * this.slotBlocks);
    this.rng = (options.seed ?? 12345) >>> 0 || 1;
  }

  private random(n: number): number {
    this.rng ^= this.rng << 13;
    this.rng >>>= 0;
    this.rng ^= this.rng >>> 17;
    this.rng ^= this.rng << 5;
    this.rng >>>= 0;
    return this.rng % n;
  }

  stop(): void {
    this.stopping = true;
  }

  /**
   * Write until the connection dies, stop() is called or ackedWritesMax is reached.
   * Resolves (never rejects) once no request is outstanding or the connection is gone.
   */
  async run(): Promise<void> {
    const { socket, exportName } = parseNbdUnixUri(this.options.uri);
    const client = await RawClient.connect(socket);
    this.client = client;
    await client.handshake(exportName);
    const inflight = new Map<number, InFlight>();
    const busy = new Set<number>();
    let gen = 0;
    let handle = 1;
    const issue = (): void => {
      let slot = this.random(this.options.slots);
      while (busy.has(slot)) slot = (slot + 1) % this.options.slots;
      const blocks = 1 + this.random(this.slotBlocks);
      const w: InFlight = { slot, firstBlock: slot * this.slotBlocks, blocks, gen: ++gen };
      const data = Buffer.concat(Array.from({ length: blocks }, (_, i) => blockContent(w.firstBlock + i, w.gen)));
      busy.add(slot);
      const h = handle++;
      inflight.set(h, w);
      client.request(P.NBD_CMD_WRITE, h, this.offsetBytes + w.firstBlock * BLOCK_BYTES, data.length, { data });
    };
    const wantMore = (): boolean =>
      !this.stopping && !client.closed && (this.options.ackedWritesMax === undefined || this.ackedWrites + inflight.size < this.options.ackedWritesMax);
    try {
      while (inflight.size < Math.min(this.queueDepth, this.options.slots) && wantMore()) issue();
      while (inflight.size > 0) {
        const r = await client.reply(new Map(), 30_000);
        const w = inflight.get(r.handleLo);
        if (!w) throw new Error(`reply for unknown handle ${r.handleLo}`);
        inflight.delete(r.handleLo);
        busy.delete(w.slot);
        if (r.error === 0) {
          for (let i = 0; i < w.blocks; i++) {
            this.acked[w.firstBlock + i] = w.gen;
            this.maybe[w.firstBlock + i] = 0;
          }
          this.ackedWrites++;
          this.ackedBytes += w.blocks * BLOCK_BYTES;
        } else {
          // Not acknowledged: it may or may not have reached the disks.
          this.failedWrites++;
          for (let i = 0; i < w.blocks; i++) this.maybe[w.firstBlock + i] = w.gen;
        }
        if (wantMore()) issue();
      }
      this.endReason = 'done';
    } catch (err) {
      this.endReason = (err as Error).message;
    } finally {
      for (const w of inflight.values()) for (let i = 0; i < w.blocks; i++) this.maybe[w.firstBlock + i] = w.gen;
      client.close();
      this.client = null;
    }
  }

  /** Writes that were in flight (or refused) when the run ended. */
  get unacknowledgedBlocks(): number {
    let n = 0;
    for (const g of this.maybe) if (g !== 0) n++;
    return n;
  }

  /** Read the region back through `uri` and check every block. */
  async check(uri: string): Promise<CheckResult> {
    const { socket, exportName } = parseNbdUnixUri(uri);
    const client = await RawClient.connect(socket);
    const result: CheckResult = { blocksChecked: 0, blocksAsAcked: 0, blocksFromInFlight: 0, failures: [] };
    try {
      await client.handshake(exportName);
      const totalBlocks = this.acked.length;
      const chunkBlocks = 256; // 1 MiB reads
      const zero = Buffer.alloc(BLOCK_BYTES);
      for (let first = 0; first < totalBlocks; first += chunkBlocks) {
        const n = Math.min(chunkBlocks, totalBlocks - first);
        client.request(P.NBD_CMD_READ, 1, this.offsetBytes + first * BLOCK_BYTES, n * BLOCK_BYTES);
        const r = await client.reply(new Map([[1, n * BLOCK_BYTES]]), 30_000);
        if (r.error !== 0 || !r.data) throw new Error(`read at block ${first} failed with error ${r.error}`);
        for (let i = 0; i < n; i++) {
          const block = first + i;
          const got = r.data.subarray(i * BLOCK_BYTES, (i + 1) * BLOCK_BYTES);
          const a = this.acked[block]!;
          const m = this.maybe[block]!;
          result.blocksChecked++;
          if (got.equals(a === 0 ? zero : blockContent(block, a))) result.blocksAsAcked++;
          else if (m !== 0 && got.equals(blockContent(block, m))) result.blocksFromInFlight++;
          else if (result.failures.length < 20) result.failures.push(describe(block, got, a, m));
          else if (result.failures.length === 20) result.failures.push('... (more failures left out)');
        }
      }
    } finally {
      client.close();
    }
    return result;
  }
}

function describe(block: number, got: Buffer, acked: number, maybe: number): string {
  const what = got.subarray(0, 8).equals(MAGIC)
    ? `block ${got.readUInt32BE(8)} generation ${got.readUInt32BE(12)}`
    : got.every((x) => x === 0)
      ? 'zeros'
      : `foreign bytes ${got.subarray(0, 16).toString('hex')}`;
  return `block ${block}: expected generation ${acked}${maybe ? ` (or in-flight ${maybe})` : ''}, found ${what}`;
}
