// Golden tests for the sync/verify parts of the status formats: /proc/drbd (8.4),
// drbdadm status and drbdsetup status --json (9).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConnectionState, DiskState, Role } from '../../src/volume/states.js';
import {
  formatProc,
  formatProcSyncLines,
  formatStatusText,
  procProgressBar,
  statusJson,
  withThousands,
  type PeerDeviceStatus,
  type ResourceStatus,
} from '../../src/volume/status-format.js';
import { SyncProgress, type SyncDetails } from '../../src/volume/sync-progress.js';
import { LISTING3_AT_MS, listing3Progress } from '../helpers/listing3.js';

/** What `watch` shows: tabs expanded to 8 columns. */
function expandTabs(s: string): string {
  return s
    .split('\n')
    .map((line) => {
      let out = '';
      for (const ch of line) out += ch === '\t' ? ' '.repeat(8 - (out.length % 8)) : ch;
      return out;
    })
    .join('\n');
}

// The seed article, Listings 3 and 4 (cat /proc/drbd on the SyncTarget).
const LISTING_3 = `version: 8.4.11 (api:1/proto:86-101)
srcversion: 2A5DFCD31AE4EBF93C0E357
 0: cs:SyncTarget ro:Secondary/Primary ds:Inconsistent/UpToDate C r-----
    ns:0 nr:1755136 dw:1755136 dr:0 al:8 bm:0 lo:1 pe:4 ua:0 ap:0 ep:1 wo:f oos:19215708
        [>...................] sync'ed:  8.4% (18764/20476)M
        finish: 0:10:40 speed: 29,964 (16,712) want: 41,000 K/sec
`;
const LISTING_4 = `version: 8.4.11 (api:1/proto:86-101)
srcversion: 2A5DFCD31AE4EBF93C0E357
 0: cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate C r-----
    ns:0 nr:20970844 dw:20970844 dr:0 al:8 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0
`;

const listing3Details = (): SyncDetails => listing3Progress().details(LISTING3_AT_MS);

function resource(opts: {
  cs: ConnectionState;
  disk: DiskState;
  peerDisk: DiskState;
  nr: number;
  oos: number;
  lo: number;
  pe: number;
  sync?: SyncDetails;
}): ResourceStatus {
  const pd: PeerDeviceStatus = {
    volume: 0,
    replication: opts.cs,
    peerDisk: opts.peerDisk,
    outOfSyncKiB: opts.oos,
    sentKiB: 0,
    receivedKiB: opts.nr,
    sizeKiB: 20970844,
    pending: opts.pe,
    unacked: 0,
  };
  if (opts.sync) pd.sync = opts.sync;
  return {
    name: 'r0',
    nodeId: 1,
    role: Role.Secondary,
    protocol: 'C',
    nbdUri: null,
    devices: [
      {
        volume: 0,
        minor: 0,
        disk: opts.disk,
        sizeKiB: 20970844,
        open: false,
        counters: { readKiB: 0, writtenKiB: opts.nr, alWrites: 8, bmWrites: 0, upperPending: 0, lowerPending: opts.lo },
        nbdUri: null,
      },
    ],
    connections: [{ peerName: 'ubu22042-1', peerNodeId: 0, connection: opts.cs, peerRole: Role.Primary, peerDevices: [pd] }],
  };
}

const syncing = (sync?: SyncDetails): ResourceStatus =>
  resource({ cs: ConnectionState.SyncTarget, disk: DiskState.Inconsistent, peerDisk: DiskState.UpToDate, nr: 1755136, oos: 19215708, lo: 1, pe: 4, ...(sync ? { sync } : {}) });
const connected = (sync?: SyncDetails): ResourceStatus =>
  resource({ cs: ConnectionState.Connected, disk: DiskState.UpToDate, peerDisk: DiskState.UpToDate, nr: 20970844, oos: 0, lo: 0, pe: 0, ...(sync ? { sync } : {}) });

test('golden: /proc/drbd during sync reproduces the article Listing 3 exactly', () => {
  const out = formatProc([syncing(listing3Details())], '2A5DFCD31AE4EBF93C0E357');
  // DRBD prints a tab before each progress line; the article shows them as 8 spaces.
  assert.equal(out.split('\n')[4]![0], '\t');
  assert.equal(out.split('\n')[5]![0], '\t');
  assert.equal(expandTabs(out), LISTING_3);
});

test('golden: /proc/drbd after sync reproduces Listing 4 (Connected, no progress lines)', () => {
  assert.equal(formatProc([connected()], '2A5DFCD31AE4EBF93C0E357'), LISTING_4);
  // leftover details do not print outside a sync state
  assert.equal(formatProc([connected(listing3Details())], '2A5DFCD31AE4EBF93C0E357'), LISTING_4);
});

test('golden: another real 8.4 transcript shape (3.1%, under 5% the bar is 21 wide)', () => {
  // 32 GiB: 8388343 blocks, 8137463 left after 26 s; 173960 blocks over the last 18 s.
  const d: SyncDetails = {
    kind: 'resync',
    totalBits: 8388343,
    leftBits: 8137463,
    failedBits: 0,
    sameCsumBits: 0,
    elapsedMs: 26_000,
    pausedMs: 0,
    dt0Ms: 18_000,
    db0Bits: 173960,
    dt1Ms: 3000,
    db1Bits: 29000,
    wantKiBps: 50280,
  };
  assert.deepEqual(formatProcSyncLines(ConnectionState.SyncTarget, d), [
    "\t[>....................] sync'ed:  3.1% (31784/32764)M",
    '\tfinish: 0:14:01 speed: 38,656 (38,596) want: 50,280 K/sec',
  ]);
});

function details(over: Partial<SyncDetails>): SyncDetails {
  return {
    kind: 'resync',
    totalBits: 262144, // 1 GiB
    leftBits: 131072,
    failedBits: 0,
    sameCsumBits: 0,
    elapsedMs: 60_000,
    pausedMs: 0,
    dt0Ms: 18_000,
    db0Bits: 18_000,
    dt1Ms: 3000,
    db1Bits: 3000,
    wantKiBps: 4000,
    ...over,
  };
}

test('progress bar at 0%, 5%, 50%, 99.9% and 100%', () => {
  assert.equal(procProgressBar(0), '>....................'); // DRBD: 21 wide below 5.0%
  assert.equal(procProgressBar(49), '>....................');
  assert.equal(procProgressBar(50), '>...................');
  assert.equal(procProgressBar(500), '=========>..........');
  assert.equal(procProgressBar(999), '==================>.');
  assert.equal(procProgressBar(1000), '===================>');
  const line = (leftBits: number, totalBits: number): string => formatProcSyncLines(ConnectionState.SyncSource, details({ leftBits, totalBits }))[0];
  assert.equal(line(262144, 262144), "\t[>....................] sync'ed:  0.4% (1048576/1048576)K");
  assert.equal(line(131072, 262144), "\t[=========>..........] sync'ed: 50.2% (524288/1048576)K");
  assert.equal(line(2048, 1 << 20), "\t[==================>.] sync'ed: 99.9% (8192/4194304)K");
  assert.equal(line(0, 262144), "\t[===================>] sync'ed:100.0% (0/1048576)K");
});

test('property: the bar is 20 wide from 5% on (21 below, as DRBD prints it) and the line keeps its shape', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 36 }), fc.double({ min: 0, max: 1, noNaN: true }), (totalBits, f) => {
      const leftBits = Math.floor(totalBits * f);
      const [first] = formatProcSyncLines(ConnectionState.SyncTarget, details({ totalBits, leftBits }));
      const m = /^\t\[([=>.]+)\] sync'ed:([ \d]{3})\.(\d)% \((\d+)\/(\d+)\)([KM])$/.exec(first);
      assert.ok(m, first);
      const bar = m[1]!;
      const perMil = Number(m[2]) * 10 + Number(m[3]);
      assert.equal(bar.length, perMil >= 50 ? 20 : 21);
      assert.equal(bar.split('>').length, 2);
      assert.match(bar, /^=*>\.*$/);
      assert.equal(m[6], totalBits > 1048576 ? 'M' : 'K');
    }),
  );
});

test('K units up to 4 GiB, M units above', () => {
  const at = (totalBits: number, leftBits: number): string => formatProcSyncLines(ConnectionState.SyncSource, details({ totalBits, leftBits }))[0];
  assert.match(at(1048576, 524288), /\(2097152\/4194304\)K$/);
  // M numbers are 4 MiB-granular (DRBD: Bit2KB(bits >> 10))
  assert.match(at(1048577, 524288), /\(2048\/4096\)M$/);
  assert.match(at(1048577, 1023), /\(0\/4096\)M$/);
});

test('thousands separators', () => {
  assert.equal(withThousands(0), '0');
  assert.equal(withThousands(999), '999');
  assert.equal(withThousands(1000), '1,000');
  assert.equal(withThousands(29964), '29,964');
  assert.equal(withThousands(1000000), '1,000,000');
  assert.equal(withThousands(1234567), '1,234,567');
  assert.equal(withThousands(102400), '102,400');
  const second = formatProcSyncLines(ConnectionState.SyncTarget, details({ db0Bits: 18 * 300_000, wantKiBps: 1_228_800 }))[1];
  assert.equal(second, '\tfinish: 0:00:00 speed: 1,200,000 (8,736) want: 1,228,800 K/sec');
});

test('want: only on SyncTarget and VerifyS; "verified:" for verify; (stalled)', () => {
  const d = details({});
  assert.doesNotMatch(formatProcSyncLines(ConnectionState.SyncSource, d)[1], /want/);
  assert.match(formatProcSyncLines(ConnectionState.SyncTarget, d)[1], / want: 4,000 K\/sec$/);
  assert.match(formatProcSyncLines(ConnectionState.VerifyS, { ...d, kind: 'verify' })[1], / want: 4,000 K\/sec$/);
  assert.doesNotMatch(formatProcSyncLines(ConnectionState.VerifyT, { ...d, kind: 'verify' })[1], /want/);
  assert.match(formatProcSyncLines(ConnectionState.VerifyT, d)[0], /\] verified: 50\.2% /);
  assert.equal(
    formatProcSyncLines(ConnectionState.SyncSource, details({ dt0Ms: 181_000, db0Bits: 0 }))[1],
    '\tfinish: 65:54:00 speed: 0 (8,736) K/sec (stalled)', // hours are not wrapped
  );
  assert.doesNotMatch(formatProcSyncLines(ConnectionState.SyncSource, details({ dt0Ms: 180_999, db0Bits: 0 }))[1], /stalled/);
});

test('/proc/drbd prints no progress lines while paused (PausedSyncT)', () => {
  const r = resource({ cs: ConnectionState.PausedSyncT, disk: DiskState.Inconsistent, peerDisk: DiskState.UpToDate, nr: 1, oos: 2, lo: 0, pe: 0, sync: listing3Details() });
  assert.equal(formatProc([r], 'x').split('\n').length, 5);
});

test('drbdadm status: done: comes from the sync details', () => {
  const text = formatStatusText([syncing(listing3Details())]);
  assert.equal(
    text,
    ['r0 role:Secondary', '  disk:Inconsistent', '  ubu22042-1 role:Primary', '    replication:SyncTarget peer-disk:UpToDate done:8.37', ''].join('\n'),
  );
  // without details it falls back to the out-of-sync count, as before
  assert.match(formatStatusText([syncing()]), /replication:SyncTarget peer-disk:UpToDate done:8\.37$/m);
  // verify shows done: too (DRBD 9 does when it has details)
  const v = resource({ cs: ConnectionState.VerifyS, disk: DiskState.UpToDate, peerDisk: DiskState.UpToDate, nr: 0, oos: 0, lo: 0, pe: 0, sync: details({ kind: 'verify' }) });
  assert.match(formatStatusText([v]), /replication:VerifyS peer-disk:UpToDate done:50\.00$/m);
  assert.doesNotMatch(formatStatusText([connected(listing3Details())]), /done:/);
});

test('status --json: DRBD 9 sync details during a resync', () => {
  const d = listing3Details();
  const [res] = statusJson([syncing(d)]) as { connections: { peer_devices: Record<string, unknown>[] }[] }[];
  const pd = res!.connections[0]!.peer_devices[0]!;
  const db1 = d.db1Bits * 8;
  assert.deepEqual(pd, {
    volume: 0,
    'replication-state': 'SyncTarget',
    'peer-disk-state': 'UpToDate',
    'peer-client': false,
    'resync-suspended': 'no',
    received: 1755136,
    sent: 0,
    'out-of-sync': 19215708,
    pending: 4,
    unacked: 0,
    'has-sync-details': true,
    'has-online-verify-details': false,
    'percent-in-sync': 8.37,
    'rs-total': 41941688,
    'rs-dt-start-ms': 105000,
    'rs-paused-ms': 0,
    'rs-dt0-ms': 18000,
    'rs-db0-sectors': 1078720,
    'rs-dt1-ms': 3000,
    'rs-db1-sectors': db1,
    'rs-failed': 0,
    'rs-same-csum': 0,
    want: 40.04,
    'db0/dt0 [MiB/s]': 29.26,
    'db1/dt1 [MiB/s]': Number((((db1 / 3000) * 1000) / 2048).toFixed(2)),
    'estimated-seconds-to-finish': Math.round((3000 * 1e-3 * 4803927) / d.db1Bits),
    'db/dt [MiB/s]': 16.32,
    'percent-resync-done': 8.37,
  });
});

test('status --json: verify details use ov-* fields; no progress means the 987654321 estimate', () => {
  const d = details({ kind: 'verify', db1Bits: 0, verify: { startSector: 0, stopSector: null, positionSector: 1048576, skippedBits: 2 } });
  const r = resource({ cs: ConnectionState.VerifyS, disk: DiskState.UpToDate, peerDisk: DiskState.UpToDate, nr: 0, oos: 0, lo: 0, pe: 0, sync: d });
  const [res] = statusJson([r]) as { connections: { peer_devices: Record<string, unknown>[] }[] }[];
  const pd = res!.connections[0]!.peer_devices[0]!;
  assert.equal(pd['has-sync-details'], true);
  assert.equal(pd['has-online-verify-details'], true);
  assert.equal(pd['ov-start-sector'], 0);
  assert.equal(pd['ov-stop-sector'], -1);
  assert.equal(pd['ov-position'], 1048576);
  assert.equal(pd['ov-left'], 131072 * 8);
  assert.equal(pd['ov-skipped'], 16);
  assert.equal('rs-failed' in pd, false);
  assert.equal(pd['estimated-seconds-to-finish'], 987654321);
  assert.equal(pd['percent-resync-done'], 50);
});

test('status --json: no sync fields when no sync runs (existing output unchanged)', () => {
  const [res] = statusJson([connected(listing3Details())]) as { connections: { peer_devices: Record<string, unknown>[] }[] }[];
  const pd = res!.connections[0]!.peer_devices[0]!;
  assert.deepEqual(Object.keys(pd), [
    'volume',
    'replication-state',
    'peer-disk-state',
    'peer-client',
    'resync-suspended',
    'received',
    'sent',
    'out-of-sync',
    'pending',
    'unacked',
    'has-sync-details',
    'has-online-verify-details',
    'percent-in-sync',
  ]);
  assert.equal(pd['has-sync-details'], false);
  assert.equal(pd['replication-state'], 'Established');
});
