// Status output in the shapes DRBD users and their scripts know:
// `drbdadm status` (9), `drbdsetup status --json` (9) and `/proc/drbd` (8.4).
// Pure formatting of a snapshot the daemon assembles.

import { ConnectionState, DiskState, Role, connectionStateName, diskStateName, roleName } from './states.js';
import {
  SECTORS_PER_BIT,
  type SyncDetails,
  averageKiBps,
  currentKiBps,
  estimatedSecondsToFinish,
  isStalled,
  mibPerSecond,
  percentDone,
  perMilDone,
  procFinishSeconds,
} from './sync-progress.js';

export type { SyncDetails } from './sync-progress.js';

export interface DeviceCounters {
  /** KiB read from / written to the local backing device through the volume. */
  readKiB: number;
  writtenKiB: number;
  alWrites: number;
  bmWrites: number;
  upperPending: number;
  lowerPending: number;
}

export interface DeviceStatus {
  volume: number;
  minor: number | null;
  disk: DiskState;
  sizeKiB: number;
  open: boolean;
  counters: DeviceCounters;
  nbdUri: string | null;
}

export interface PeerDeviceStatus {
  volume: number;
  replication: ConnectionState;
  peerDisk: DiskState;
  outOfSyncKiB: number;
  sentKiB: number;
  receivedKiB: number;
  /** Total KiB of the device, to compute percent-in-sync. */
  sizeKiB: number;
  /** Requests sent and awaiting an ack or reply (/proc `pe:`, JSON `pending`); 0 when absent. */
  pending?: number;
  /** Requests received and not yet acked (/proc `ua:`, JSON `unacked`); 0 when absent. */
  unacked?: number;
  /**
   * The running resync / online verify, when one runs (see sync-progress.ts). Shown only
   * while `replication` is a sync or verify state (SyncSource, SyncTarget, VerifyS,
   * VerifyT, PausedSyncS, PausedSyncT) and totalBits > 0.
   */
  sync?: SyncDetails;
}

export interface ConnectionStatus {
  peerName: string;
  peerNodeId: number | null;
  connection: ConnectionState;
  peerRole: Role;
  peerDevices: PeerDeviceStatus[];
}

export interface ResourceStatus {
  name: string;
  nodeId: number | null;
  role: Role;
  protocol: 'A' | 'B' | 'C' | null;
  devices: DeviceStatus[];
  connections: ConnectionStatus[];
  nbdUri: string | null;
}

/** DRBD 9 calls an established connection "Connected" and its replication state "Established". */
function connectionWord(c: ConnectionState): string {
  if (c >= ConnectionState.Connected) return 'Connected';
  if (c === ConnectionState.WFConnection || c === ConnectionState.WFReportParams) return 'Connecting';
  return connectionStateName(c);
}

function replicationWord(c: ConnectionState): string {
  if (c < ConnectionState.Connected) return 'Off';
  if (c === ConnectionState.Connected) return 'Established';
  return connectionStateName(c);
}

const SYNC_STATES: ReadonlySet<ConnectionState> = new Set([
  ConnectionState.SyncSource,
  ConnectionState.SyncTarget,
  ConnectionState.VerifyS,
  ConnectionState.VerifyT,
  ConnectionState.PausedSyncS,
  ConnectionState.PausedSyncT,
]);

/** The sync details to show for this peer device, if it is syncing or verifying and has them. */
function syncDetailsOf(pd: PeerDeviceStatus): SyncDetails | null {
  if (!pd.sync || pd.sync.totalBits <= 0 || !SYNC_STATES.has(pd.replication)) return null;
  return pd.sync;
}

/** printf("%.2f") as a JSON number. */
function fixed2(v: number): number {
  return Number(v.toFixed(2));
}

function percentInSync(pd: PeerDeviceStatus): number {
  if (pd.sizeKiB <= 0) return 100;
  return Math.round((10000 * (pd.sizeKiB - pd.outOfSyncKiB)) / pd.sizeKiB) / 100;
}

/** Like `drbdadm status`. */
export function formatStatusText(resources: ResourceStatus[]): string {
  const lines: string[] = [];
  for (const r of resources) {
    lines.push(`${r.name} role:${roleName(r.role)}`);
    const many = r.devices.length > 1;
    for (const d of r.devices) {
      lines.push(`  ${many ? `volume:${d.volume} ` : ''}disk:${diskStateName(d.disk)}${d.open ? ' open:yes' : ''}`);
    }
    for (const c of r.connections) {
      if (c.connection < ConnectionState.Connected) {
        lines.push(`  ${c.peerName} connection:${connectionWord(c.connection)}`);
        continue;
      }
      lines.push(`  ${c.peerName} role:${roleName(c.peerRole)}`);
      for (const pd of c.peerDevices) {
        const parts = [`    ${many ? `volume:${pd.volume} ` : ''}`];
        if (pd.replication !== ConnectionState.Connected) parts.push(`replication:${replicationWord(pd.replication)} `);
        parts.push(`peer-disk:${diskStateName(pd.peerDisk)}`);
        const details = syncDetailsOf(pd);
        if (details) {
          parts.push(` done:${percentDone(details).toFixed(2)}`);
        } else if (pd.replication === ConnectionState.SyncSource || pd.replication === ConnectionState.SyncTarget) {
          parts.push(` done:${percentInSync(pd).toFixed(2)}`);
        }
        lines.push(parts.join(''));
      }
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** Like `drbdsetup status --json`, plus safeside's `nbd-uri`. */
export function statusJson(resources: ResourceStatus[]): unknown[] {
  return resources.map((r) => ({
    name: r.name,
    'node-id': r.nodeId ?? 0,
    role: roleName(r.role),
    suspended: false,
    'suspended-user': false,
    'suspended-no-data': false,
    'suspended-fencing': false,
    'suspended-quorum': false,
    'force-io-failures': false,
    'write-ordering': 'flush',
    'nbd-uri': r.nbdUri,
    devices: r.devices.map((d) => ({
      volume: d.volume,
      minor: d.minor ?? 0,
      'disk-state': diskStateName(d.disk),
      client: false,
      quorum: true,
      open: d.open,
      size: d.sizeKiB,
      read: d.counters.readKiB,
      written: d.counters.writtenKiB,
      'al-writes': d.counters.alWrites,
      'bm-writes': d.counters.bmWrites,
      'upper-pending': d.counters.upperPending,
      'lower-pending': d.counters.lowerPending,
      'nbd-uri': d.nbdUri,
    })),
    connections: r.connections.map((c) => ({
      'peer-node-id': c.peerNodeId ?? 1,
      name: c.peerName,
      'connection-state': connectionWord(c.connection),
      congested: false,
      'peer-role': roleName(c.peerRole),
      tls: false,
      'ap-in-flight': 0,
      'rs-in-flight': 0,
      paths: [],
      peer_devices: c.peerDevices.map((pd) => peerDeviceJson(pd)),
    })),
  }));
}

function peerDeviceJson(pd: PeerDeviceStatus): Record<string, unknown> {
  const details = syncDetailsOf(pd);
  const verify = details?.kind === 'verify';
  const out: Record<string, unknown> = {
    volume: pd.volume,
    'replication-state': replicationWord(pd.replication),
    'peer-disk-state': diskStateName(pd.peerDisk),
    'peer-client': false,
    'resync-suspended': 'no',
    received: pd.receivedKiB,
    sent: pd.sentKiB,
    'out-of-sync': pd.outOfSyncKiB,
    pending: pd.pending ?? 0,
    unacked: pd.unacked ?? 0,
    'has-sync-details': details ? true : pd.replication === ConnectionState.SyncSource || pd.replication === ConnectionState.SyncTarget,
    'has-online-verify-details': details ? verify : pd.replication === ConnectionState.VerifyS || pd.replication === ConnectionState.VerifyT,
    'percent-in-sync': percentInSync(pd),
  };
  if (!details) return out;
  // drbdsetup status --json (DRBD 9): counts in sectors, times in ms, rates in MiB/s.
  const s = SECTORS_PER_BIT;
  Object.assign(out, {
    'rs-total': details.totalBits * s,
    'rs-dt-start-ms': details.elapsedMs,
    'rs-paused-ms': details.pausedMs,
    'rs-dt0-ms': details.dt0Ms,
    'rs-db0-sectors': details.db0Bits * s,
    'rs-dt1-ms': details.dt1Ms,
    'rs-db1-sectors': details.db1Bits * s,
  });
  if (verify) {
    const v = details.verify;
    Object.assign(out, {
      'ov-start-sector': v?.startSector ?? 0,
      'ov-stop-sector': v?.stopSector ?? -1,
      'ov-position': v?.positionSector ?? 0,
      'ov-left': details.leftBits * s,
      'ov-skipped': (v?.skippedBits ?? 0) * s,
    });
  } else {
    Object.assign(out, { 'rs-failed': details.failedBits * s, 'rs-same-csum': details.sameCsumBits * s });
  }
  Object.assign(out, {
    want: fixed2(details.wantKiBps / 1024),
    'db0/dt0 [MiB/s]': fixed2(mibPerSecond(details.db0Bits * s, details.dt0Ms)),
    'db1/dt1 [MiB/s]': fixed2(mibPerSecond(details.db1Bits * s, details.dt1Ms)),
    'estimated-seconds-to-finish': Math.round(estimatedSecondsToFinish(details)),
    'db/dt [MiB/s]': fixed2(mibPerSecond((details.totalBits - details.leftBits) * s, details.elapsedMs - details.pausedMs)),
    'percent-resync-done': fixed2(percentDone(details)),
  });
  return out;
}

/** 12,345,678: DRBD's seq_printf_with_thousands_grouping. */
export function withThousands(v: number): string {
  const n = Math.max(0, Math.floor(v));
  if (n >= 1_000_000) {
    const r = n % 1_000_000;
    return `${Math.floor(n / 1_000_000)},${String(Math.floor(r / 1000)).padStart(3, '0')},${String(r % 1000).padStart(3, '0')}`;
  }
  if (n >= 1000) return `${Math.floor(n / 1000)},${String(n % 1000).padStart(3, '0')}`;
  return String(n);
}

/** The 20-column bar of /proc/drbd: x = per_mil/50; x-1 '=', '>', 20-x '.' (21 wide below 5%, as in DRBD). */
export function procProgressBar(perMil: number): string {
  const x = Math.floor(perMil / 50);
  return '='.repeat(Math.max(0, x - 1)) + '>' + '.'.repeat(Math.max(0, 20 - x));
}

/**
 * The two lines /proc/drbd (8.4, drbd_syncer_progress) adds under a device that syncs
 * or verifies, each starting with a tab:
 *   `\t[>...................] sync'ed:  8.4% (18764/20476)M`
 *   `\tfinish: 0:10:40 speed: 29,964 (16,712) want: 41,000 K/sec`
 */
export function formatProcSyncLines(replication: ConnectionState, d: SyncDetails): [string, string] {
  const isVerify = replication === ConnectionState.VerifyS || replication === ConnectionState.VerifyT;
  const pm = perMilDone(d);
  const big = d.totalBits > 4 * 1024 * 256; // more than 4 GiB of 4 KiB blocks: show MiB
  const amount = big
    ? `(${Math.floor(d.leftBits / 1024) * 4}/${Math.floor(d.totalBits / 1024) * 4})M`
    : `(${d.leftBits * 4}/${d.totalBits * 4})K`;
  const first = `\t[${procProgressBar(pm)}] ${isVerify ? 'verified:' : "sync'ed:"}${String(Math.floor(pm / 10)).padStart(3)}.${pm % 10}% ${amount}`;
  const rt = procFinishSeconds(d);
  const finish = `${Math.floor(rt / 3600)}:${String(Math.floor((rt % 3600) / 60)).padStart(2, '0')}:${String(rt % 60).padStart(2, '0')}`;
  const want =
    replication === ConnectionState.SyncTarget || replication === ConnectionState.VerifyS ? ` want: ${withThousands(d.wantKiBps)}` : '';
  const second = `\tfinish: ${finish} speed: ${withThousands(currentKiBps(d))} (${withThousands(averageKiBps(d))})${want} K/sec${isStalled(d) ? ' (stalled)' : ''}`;
  return [first, second];
}

export const PROC_VERSION_LINE = 'version: 8.4.11 (api:1/proto:86-101)';

const PROC_PROGRESS_STATES: ReadonlySet<ConnectionState> = new Set([
  ConnectionState.SyncSource,
  ConnectionState.SyncTarget,
  ConnectionState.VerifyS,
  ConnectionState.VerifyT,
]);

/** Like `/proc/drbd` of DRBD 8.4: one block per device, keyed by minor. */
export function formatProc(resources: ResourceStatus[], srcversion: string): string {
  const out = [PROC_VERSION_LINE, `srcversion: ${srcversion}`];
  const rows: { minor: number; text: string[] }[] = [];
  for (const r of resources) {
    for (const d of r.devices) {
      // 8.4 has one peer: show the one that is syncing, else the first.
      const c =
        r.connections.find((cc) => cc.peerDevices.some((p) => p.volume === d.volume && PROC_PROGRESS_STATES.has(p.replication))) ??
        r.connections[0];
      const pd = c?.peerDevices.find((p) => p.volume === d.volume);
      // 8.4's cs: is the connection state, or the replication state once connected.
      const combined = c ? (c.connection === ConnectionState.Connected && pd ? pd.replication : c.connection) : ConnectionState.StandAlone;
      const cs = connectionStateName(combined);
      const peerRole = c ? roleName(c.peerRole) : 'Unknown';
      const pdsk = pd ? diskStateName(pd.peerDisk) : 'DUnknown';
      const proto = r.protocol ?? ' ';
      const minor = d.minor ?? 0;
      const ns = pd?.sentKiB ?? 0;
      const nr = pd?.receivedKiB ?? 0;
      const oos = pd?.outOfSyncKiB ?? 0;
      const text = [
        `${String(minor).padStart(2)}: cs:${cs} ro:${roleName(r.role)}/${peerRole} ds:${diskStateName(d.disk)}/${pdsk} ${proto} r-----`,
        `    ns:${ns} nr:${nr} dw:${d.counters.writtenKiB} dr:${d.counters.readKiB} al:${d.counters.alWrites} bm:${d.counters.bmWrites} lo:${d.counters.lowerPending} pe:${pd?.pending ?? 0} ua:${pd?.unacked ?? 0} ap:${d.counters.upperPending} ep:1 wo:f oos:${oos}`,
      ];
      // 8.4 prints progress only in these four states (not while paused).
      const details = pd ? syncDetailsOf(pd) : null;
      if (c && pd && details && PROC_PROGRESS_STATES.has(combined)) text.push(...formatProcSyncLines(combined, details));
      rows.push({ minor, text });
    }
  }
  rows.sort((a, b) => a.minor - b.minor);
  let prev: number | null = null;
  for (const row of rows) {
    if (prev !== null && row.minor !== prev + 1) out.push('');
    out.push(...row.text);
    prev = row.minor;
  }
  return out.join('\n') + '\n';
}
