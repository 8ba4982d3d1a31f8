// Status output in the shapes DRBD users and their scripts know:
// `drbdadm status` (9), `drbdsetup status --json` (9) and `/proc/drbd` (8.4).
// Pure formatting of a snapshot the daemon assembles.

import { ConnectionState, DiskState, Role, connectionStateName, diskStateName, roleName } from './states.js';

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
        if (pd.replication === ConnectionState.SyncSource || pd.replication === ConnectionState.SyncTarget) {
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
      peer_devices: c.peerDevices.map((pd) => ({
        volume: pd.volume,
        'replication-state': replicationWord(pd.replication),
        'peer-disk-state': diskStateName(pd.peerDisk),
        'peer-client': false,
        'resync-suspended': 'no',
        received: pd.receivedKiB,
        sent: pd.sentKiB,
        'out-of-sync': pd.outOfSyncKiB,
        pending: 0,
        unacked: 0,
        'has-sync-details': pd.replication === ConnectionState.SyncSource || pd.replication === ConnectionState.SyncTarget,
        'has-online-verify-details': pd.replication === ConnectionState.VerifyS || pd.replication === ConnectionState.VerifyT,
        'percent-in-sync': percentInSync(pd),
      })),
    })),
  }));
}

export const PROC_VERSION_LINE = 'version: 8.4.11 (api:1/proto:86-101)';

/** Like `/proc/drbd` of DRBD 8.4: one block per device, keyed by minor. */
export function formatProc(resources: ResourceStatus[], srcversion: string): string {
  const out = [PROC_VERSION_LINE, `srcversion: ${srcversion}`];
  const rows: { minor: number; text: string[] }[] = [];
  for (const r of resources) {
    for (const d of r.devices) {
      const c = r.connections[0];
      const pd = c?.peerDevices.find((p) => p.volume === d.volume);
      const cs = c ? connectionStateName(c.connection) : 'StandAlone';
      const peerRole = c ? roleName(c.peerRole) : 'Unknown';
      const pdsk = pd ? diskStateName(pd.peerDisk) : 'DUnknown';
      const proto = r.protocol ?? ' ';
      const minor = d.minor ?? 0;
      const ns = pd?.sentKiB ?? 0;
      const nr = pd?.receivedKiB ?? 0;
      const oos = pd?.outOfSyncKiB ?? 0;
      rows.push({
        minor,
        text: [
          `${String(minor).padStart(2)}: cs:${cs} ro:${roleName(r.role)}/${peerRole} ds:${diskStateName(d.disk)}/${pdsk} ${proto} r-----`,
          `    ns:${ns} nr:${nr} dw:${d.counters.writtenKiB} dr:${d.counters.readKiB} al:${d.counters.alWrites} bm:${d.counters.bmWrites} lo:${d.counters.lowerPending} pe:0 ua:0 ap:${d.counters.upperPending} ep:1 wo:f oos:${oos}`,
        ],
      });
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
