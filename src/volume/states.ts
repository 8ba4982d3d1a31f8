// DRBD's roles, disk states and connection states with their 8.4 numbering.
// The numbers matter: validity rules compare with < and >.

export enum Role {
  Unknown = 0,
  Primary = 1,
  Secondary = 2,
}

export enum DiskState {
  Diskless = 0,
  Attaching = 1,
  Failed = 2,
  Negotiating = 3,
  Inconsistent = 4,
  Outdated = 5,
  DUnknown = 6,
  Consistent = 7,
  UpToDate = 8,
}

export enum ConnectionState {
  StandAlone = 0,
  Disconnecting = 1,
  Unconnected = 2,
  Timeout = 3,
  BrokenPipe = 4,
  NetworkFailure = 5,
  ProtocolError = 6,
  TearDown = 7,
  WFConnection = 8,
  WFReportParams = 9,
  Connected = 10,
  StartingSyncS = 11,
  StartingSyncT = 12,
  WFBitMapS = 13,
  WFBitMapT = 14,
  WFSyncUUID = 15,
  SyncSource = 16,
  SyncTarget = 17,
  VerifyS = 18,
  VerifyT = 19,
  PausedSyncS = 20,
  PausedSyncT = 21,
  Ahead = 22,
  Behind = 23,
}

export const roleName = (r: Role): string => Role[r];
export const diskStateName = (d: DiskState): string => DiskState[d];
export const connectionStateName = (c: ConnectionState): string => ConnectionState[c];
