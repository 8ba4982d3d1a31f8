// The pure core of one replicated resource on this node: role, disk states and the
// persistent flags/UUIDs that go with them. Operator commands and I/O completions come
// in as events; what must happen (persist metadata, open or close the export, log)
// comes out as effects. No clock, no randomness, no I/O: those arrive in events.
//
// This first version has no peer link: the connection is StandAlone and the peer
// Unknown/DUnknown. Replication grows this core (issue 3) without changing its shape.

import { ConnectionState, DiskState, Role, diskStateName } from './states.js';
import { checkStateChange, type DeviceState, type FencingPolicy, type StateContext } from './state-rules.js';
import { StateChangeResult as SS, stateChangeMessage } from './state-results.js';

/** DRBD's MDF_* superblock flag bits. */
export const MetaFlag = {
  Consistent: 1,
  PrimaryInd: 2,
  ConnectedInd: 4,
  FullSync: 8,
  WasUpToDate: 16,
  PeerOutdated: 32,
  CrashedPrimary: 64,
  AlClean: 128,
} as const;

export const UUID_JUST_CREATED = 4n;
const UUID_PRIMARY_BIT = 1n;
const U64_MASK = (1n << 64n) - 1n;

/** What the core persists per volume (mirrors the superblock's flags and generation UUIDs). */
export interface PersistentVolumeState {
  flags: number;
  currentUuid: bigint;
  bitmapUuid: bigint;
  historyUuids: [bigint, bigint];
}

export interface VolumeView {
  volume: number;
  disk: DiskState;
  persistent: PersistentVolumeState;
}

export interface ResourcePolicy {
  hasNetConfig: boolean;
  allowTwoPrimaries: boolean;
  fencing: FencingPolicy;
  verifyAlg: string;
}

export type ResourceEvent =
  /** Backing disk and metadata were read; `persistent` is what the superblock holds. */
  | { type: 'attach'; volume: number; persistent: PersistentVolumeState }
  | { type: 'detach'; volume: number }
  | { type: 'primary'; force: boolean; openCount: number; randomU64: bigint }
  | { type: 'secondary'; openCount: number };

export type ResourceEffect =
  /** Must be on stable storage before any later effect of the same step is carried out. */
  | { type: 'persist-metadata'; volume: number; persistent: PersistentVolumeState }
  | { type: 'export'; volume: number; enabled: boolean }
  | { type: 'log'; level: 'info' | 'warn'; message: string };

export interface StepResult {
  result: SS;
  effects: ResourceEffect[];
}

/** Disk state after attach, from the superblock flags (DRBD's drbd_adm_attach). */
export function diskStateOnAttach(flags: number, fencing: FencingPolicy): DiskState {
  if ((flags & MetaFlag.Consistent) === 0) return DiskState.Inconsistent;
  if ((flags & MetaFlag.WasUpToDate) === 0) return DiskState.Outdated;
  // A Consistent disk counts as UpToDate when nobody needs to be asked (no fencing),
  // or when the peer is known to be outdated.
  if (fencing === 'dont-care' || (flags & MetaFlag.PeerOutdated) !== 0) return DiskState.UpToDate;
  return DiskState.Consistent;
}

export class ResourceCore {
  private role: Role = Role.Secondary;
  private readonly conn: ConnectionState = ConnectionState.StandAlone;
  private readonly volumes = new Map<number, VolumeView>();

  constructor(
    readonly name: string,
    private readonly policy: ResourcePolicy,
  ) {}

  get currentRole(): Role {
    return this.role;
  }

  get connectionState(): ConnectionState {
    return this.conn;
  }

  volumeViews(): VolumeView[] {
    return [...this.volumes.values()].sort((a, b) => a.volume - b.volume);
  }

  step(event: ResourceEvent): StepResult {
    switch (event.type) {
      case 'attach':
        return this.attach(event.volume, event.persistent);
      case 'detach':
        return this.detach(event.volume);
      case 'primary':
        return this.promote(event.force, event.openCount, event.randomU64);
      case 'secondary':
        return this.demote(event.openCount);
    }
  }

  private attach(volume: number, persistent: PersistentVolumeState): StepResult {
    const disk = diskStateOnAttach(persistent.flags, this.policy.fencing);
    this.volumes.set(volume, { volume, disk, persistent: { ...persistent } });
    const effects: ResourceEffect[] = [
      { type: 'log', level: 'info', message: `${this.name}/${volume}: attached, disk( Diskless -> ${diskStateName(disk)} )` },
    ];
    if ((persistent.flags & MetaFlag.PrimaryInd) !== 0) {
      // The node was Primary when it stopped without demoting: remember it crashed as Primary.
      const flags = (persistent.flags | MetaFlag.CrashedPrimary) & ~MetaFlag.PrimaryInd;
      const view = this.volumes.get(volume)!;
      view.persistent = { ...view.persistent, flags };
      effects.push({ type: 'persist-metadata', volume, persistent: { ...view.persistent } });
      effects.push({
        type: 'log',
        level: 'warn',
        message: `${this.name}/${volume}: was Primary when it last stopped (crashed primary); marked for resync of hot extents`,
      });
    }
    return { result: SS.Success, effects };
  }

  private detach(volume: number): StepResult {
    if (!this.volumes.has(volume)) return { result: SS.NothingToDo, effects: [] };
    if (this.role === Role.Primary) {
      return { result: SS.IsDiskless, effects: [] };
    }
    this.volumes.delete(volume);
    return { result: SS.Success, effects: [{ type: 'export', volume, enabled: false }] };
  }

  private context(openCount: number): StateContext {
    return { ...this.policy, openCount };
  }

  private deviceState(disk: DiskState, role: Role): DeviceState {
    return { role, peerRole: Role.Unknown, conn: this.conn, disk, peerDisk: DiskState.DUnknown };
  }

  /** Worst result over all volumes: a resource changes role as a whole or not at all. */
  private checkAll(role: Role, openCount: number, diskOverride?: (v: VolumeView) => DiskState): SS {
    if (this.volumes.size === 0) return SS.IsDiskless;
    for (const v of this.volumes.values()) {
      const os = this.deviceState(v.disk, this.role);
      const ns = this.deviceState(diskOverride ? diskOverride(v) : v.disk, role);
      const rv = checkStateChange(os, ns, this.context(openCount));
      if (rv < SS.Success) return rv;
    }
    return SS.Success;
  }

  private promote(force: boolean, openCount: number, randomU64: bigint): StepResult {
    if (this.role === Role.Primary) return { result: SS.NothingToDo, effects: [] };
    let forced = false;
    let rv = this.checkAll(Role.Primary, openCount);
    if (rv === SS.NoUpToDateDisk && force) {
      const forcible = [...this.volumes.values()].every(
        (v) => v.disk >= DiskState.Inconsistent && v.disk <= DiskState.Consistent ? true : v.disk === DiskState.UpToDate,
      );
      if (forcible) {
        rv = this.checkAll(Role.Primary, openCount, () => DiskState.UpToDate);
        forced = rv >= SS.Success;
      }
    }
    if (rv < SS.Success) return { result: rv, effects: [] };

    const effects: ResourceEffect[] = [];
    if (forced) effects.push({ type: 'log', level: 'warn', message: `${this.name}: Forced to consider local data as UpToDate!` });
    for (const v of this.volumes.values()) {
      const before = v.disk;
      v.disk = DiskState.UpToDate;
      const p = v.persistent;
      let flags = p.flags | MetaFlag.Consistent | MetaFlag.WasUpToDate | MetaFlag.PrimaryInd;
      flags &= ~MetaFlag.CrashedPrimary;
      let next: PersistentVolumeState = { ...p, flags };
      // A Primary without a peer starts a new data generation, so a later reconnect
      // can tell which blocks changed (DRBD: new current UUID on promote while disconnected).
      if (forced || p.bitmapUuid === 0n) next = newCurrentUuid(next, randomU64);
      next = { ...next, currentUuid: next.currentUuid | UUID_PRIMARY_BIT };
      v.persistent = next;
      effects.push({ type: 'persist-metadata', volume: v.volume, persistent: { ...next } });
      if (before !== v.disk) {
        effects.push({
          type: 'log',
          level: 'info',
          message: `${this.name}/${v.volume}: disk( ${diskStateName(before)} -> ${diskStateName(v.disk)} )`,
        });
      }
    }
    this.role = Role.Primary;
    for (const v of this.volumes.values()) effects.push({ type: 'export', volume: v.volume, enabled: true });
    effects.push({ type: 'log', level: 'info', message: `${this.name}: role( Secondary -> Primary )` });
    return { result: SS.Success, effects };
  }

  private demote(openCount: number): StepResult {
    if (this.role === Role.Secondary) return { result: SS.NothingToDo, effects: [] };
    const rv = this.checkAll(Role.Secondary, openCount);
    if (rv < SS.Success) return { result: rv, effects: [] };
    const effects: ResourceEffect[] = [];
    for (const v of this.volumes.values()) effects.push({ type: 'export', volume: v.volume, enabled: false });
    for (const v of this.volumes.values()) {
      const p = v.persistent;
      v.persistent = {
        ...p,
        flags: p.flags & ~MetaFlag.PrimaryInd,
        currentUuid: p.currentUuid & ~UUID_PRIMARY_BIT,
      };
      effects.push({ type: 'persist-metadata', volume: v.volume, persistent: { ...v.persistent } });
    }
    this.role = Role.Secondary;
    effects.push({ type: 'log', level: 'info', message: `${this.name}: role( Primary -> Secondary )` });
    return { result: SS.Success, effects };
  }
}

/** bitmap := current; current := a fresh random value (DRBD's drbd_uuid_new_current). */
export function newCurrentUuid(p: PersistentVolumeState, randomU64: bigint): PersistentVolumeState {
  let fresh = randomU64 & U64_MASK & ~UUID_PRIMARY_BIT;
  if (fresh === 0n || fresh === UUID_JUST_CREATED) fresh = 0x5afe5afe5afe5af0n;
  return { ...p, bitmapUuid: p.currentUuid & ~UUID_PRIMARY_BIT, currentUuid: fresh };
}

export { stateChangeMessage };
