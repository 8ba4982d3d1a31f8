// Validity rules for a proposed device state, after DRBD 8.4's is_valid_state /
// is_valid_soft_transition. A change is proposed as a whole, checked, then committed:
// no hidden fix-ups beyond sanitize().

import { ConnectionState as C, DiskState as D, Role } from './states.js';
import { StateChangeResult as SS } from './state-results.js';

export interface DeviceState {
  role: Role;
  peerRole: Role;
  conn: C;
  disk: D;
  peerDisk: D;
}

export type FencingPolicy = 'dont-care' | 'resource-only' | 'resource-and-stonith';

export interface StateContext {
  /** A net section / peer is configured (a volume-only node has none). */
  hasNetConfig: boolean;
  allowTwoPrimaries: boolean;
  fencing: FencingPolicy;
  /** Number of openers of the local block device (mounts count as one). */
  openCount: number;
  verifyAlg: string;
}

const isSyncOrVerify = (c: C): boolean => c > C.Connected;

export function isValidState(ns: DeviceState, ctx: StateContext): SS {
  if (ctx.hasNetConfig && !ctx.allowTwoPrimaries && ns.role === Role.Primary && ns.peerRole === Role.Primary) {
    return SS.TwoPrimaries;
  }
  if (ns.role === Role.Secondary && ctx.openCount > 0) return SS.DeviceInUse;
  if (ns.role === Role.Primary && ns.conn < C.Connected && ns.disk < D.UpToDate) return SS.NoUpToDateDisk;
  if (
    ctx.fencing !== 'dont-care' &&
    ns.role === Role.Primary &&
    ns.conn < C.Connected &&
    ns.peerDisk >= D.DUnknown
  ) {
    return SS.PrimaryNop;
  }
  if (ns.role === Role.Primary && ns.disk <= D.Inconsistent && ns.peerDisk <= D.Inconsistent) return SS.NoUpToDateDisk;
  if (isSyncOrVerify(ns.conn) && ns.disk < D.Inconsistent) return SS.NoLocalDisk;
  if (isSyncOrVerify(ns.conn) && ns.peerDisk < D.Inconsistent) return SS.NoRemoteDisk;
  if (isSyncOrVerify(ns.conn) && ns.disk < D.UpToDate && ns.peerDisk < D.UpToDate) return SS.NoUpToDateDisk;
  if (
    (ns.conn === C.Connected || ns.conn === C.WFBitMapS || ns.conn === C.SyncSource || ns.conn === C.PausedSyncS) &&
    ns.disk === D.Outdated
  ) {
    return SS.ConnectedOutdates;
  }
  if ((ns.conn === C.VerifyS || ns.conn === C.VerifyT) && ctx.verifyAlg === '') return SS.NoVerifyAlg;
  if (ns.role === Role.Primary && ns.disk < D.UpToDate && ns.peerDisk < D.UpToDate) return SS.NoUpToDateDisk;
  if ((ns.conn === C.StartingSyncS || ns.conn === C.StartingSyncT) && ns.peerDisk === D.DUnknown) {
    return SS.NeedConnection;
  }
  if (ns.conn >= C.Connected && ns.peerDisk === D.DUnknown) return SS.ConnectedOutdates;
  return SS.Success;
}

/** Rules that only apply to operator-requested changes; later matches override earlier ones, as in DRBD. */
export function isValidSoftTransition(os: DeviceState, ns: DeviceState): SS {
  let rv: SS = SS.Success;
  if ((ns.conn === C.StartingSyncS || ns.conn === C.StartingSyncT) && os.conn > C.Connected) rv = SS.ResyncRunning;
  if (ns.conn === C.Disconnecting && os.conn === C.StandAlone) rv = SS.AlreadyStandAlone;
  if (ns.disk > D.Attaching && os.disk === D.Diskless) rv = SS.IsDiskless;
  if (ns.conn === C.WFConnection && os.conn < C.Unconnected) rv = SS.NoNetConfig;
  if (ns.disk === D.Outdated && os.disk < D.Outdated && os.disk !== D.Attaching) rv = SS.LowerThanOutdated;
  if (ns.conn === C.Disconnecting && os.conn === C.Unconnected) rv = SS.InTransientState;
  if ((ns.conn === C.VerifyS || ns.conn === C.VerifyT) && os.conn < C.Connected) rv = SS.NeedConnection;
  if ((ns.conn === C.VerifyS || ns.conn === C.VerifyT) && ns.conn !== os.conn && os.conn > C.Connected) {
    rv = SS.ResyncRunning;
  }
  if ((ns.conn === C.StartingSyncS || ns.conn === C.StartingSyncT) && os.conn < C.Connected) rv = SS.NeedConnection;
  if ((ns.conn === C.SyncTarget || ns.conn === C.SyncSource) && os.conn < C.WFReportParams) rv = SS.NeedConnection;
  return rv;
}

/** Implicit consequences of a state (DRBD's sanitize_state), the subset meaningful without a peer link. */
export function sanitize(ns: DeviceState): DeviceState {
  const s = { ...ns };
  if (s.conn < C.Connected) {
    s.peerRole = Role.Unknown;
    if (s.peerDisk > D.DUnknown || s.peerDisk < D.Inconsistent) s.peerDisk = D.DUnknown;
  }
  return s;
}

/**
 * Check a proposed change as a whole. If the current state was already invalid,
 * a soft change may still pass when it does not make things worse (same code as before).
 */
export function checkStateChange(os: DeviceState, ns: DeviceState, ctx: StateContext): SS {
  const sanitized = sanitize(ns);
  const rv = isValidState(sanitized, ctx);
  if (rv < SS.Success && isValidState(os, ctx) !== rv) return rv;
  return isValidSoftTransition(os, sanitized);
}
