// The one table of state-change results, numbered and worded as DRBD's SS_* codes,
// so operators and scripts see the messages they know.

export enum StateChangeResult {
  Success = 1,
  NothingToDo = 2,
  UnknownError = 0,
  TwoPrimaries = -1,
  NoUpToDateDisk = -2,
  NoLocalDisk = -4,
  NoRemoteDisk = -5,
  ConnectedOutdates = -6,
  PrimaryNop = -7,
  ResyncRunning = -8,
  AlreadyStandAlone = -9,
  FailedByPeer = -10,
  IsDiskless = -11,
  DeviceInUse = -12,
  NoNetConfig = -13,
  NoVerifyAlg = -14,
  NeedConnection = -15,
  LowerThanOutdated = -16,
  NotSupported = -17,
  InTransientState = -18,
  ConcurrentStateChange = -19,
  OtherVolumePeerPrimary = -20,
  OutdateWithoutConnection = -21,
}

const messages: Record<number, string> = {
  [StateChangeResult.UnknownError]: 'unknown error.',
  [StateChangeResult.TwoPrimaries]: 'Multiple primaries not allowed by config',
  [StateChangeResult.NoUpToDateDisk]: 'Need access to UpToDate data',
  [StateChangeResult.NoLocalDisk]: 'Can not resync without local disk',
  [StateChangeResult.NoRemoteDisk]: 'Can not resync without remote disk',
  [StateChangeResult.ConnectedOutdates]: 'Refusing to be Outdated while Connected',
  [StateChangeResult.PrimaryNop]: 'Refusing to be Primary while peer is not outdated',
  [StateChangeResult.ResyncRunning]: 'Can not start OV/resync since it is already active',
  [StateChangeResult.AlreadyStandAlone]: 'Can not disconnect a StandAlone device',
  [StateChangeResult.FailedByPeer]: 'State change was refused by peer node',
  [StateChangeResult.IsDiskless]: 'Device is diskless, the requested operation requires a disk',
  [StateChangeResult.DeviceInUse]: 'Device is held open by someone',
  [StateChangeResult.NoNetConfig]: 'Have no net/connection configuration',
  [StateChangeResult.NoVerifyAlg]: 'Need a verify algorithm to start online verify',
  [StateChangeResult.NeedConnection]: 'Need a connection to start verify or resync',
  [StateChangeResult.LowerThanOutdated]: 'Disk state is lower than outdated',
  [StateChangeResult.NotSupported]: 'Peer does not support protocol',
  [StateChangeResult.InTransientState]: 'In transient state, retry after next state change',
  [StateChangeResult.ConcurrentStateChange]: 'Concurrent state changes detected and aborted',
  [StateChangeResult.OtherVolumePeerPrimary]: 'Other vol primary on peer not allowed by config',
  [StateChangeResult.OutdateWithoutConnection]: 'Need a connection for a graceful disconnect/outdate peer',
};

export const isSuccess = (rv: StateChangeResult): boolean => rv > 0;

export function stateChangeMessage(rv: StateChangeResult): string {
  return messages[rv] ?? `unknown state change result ${rv}`;
}

/** `r0: State change failed: (-2) Need access to UpToDate data`, as drbdsetup prints it. */
export function formatStateChangeFailure(objectName: string, rv: StateChangeResult): string {
  return `${objectName}: State change failed: (${rv}) ${stateChangeMessage(rv)}`;
}

/** drbdsetup's exit codes for refused state changes (reference: 17 for -2, 5 for -16, 16 for -4, else 11). */
export function exitCodeForStateChange(rv: StateChangeResult): number {
  if (isSuccess(rv)) return 0;
  // DESIGN.md fixes 11 for every refused state change, which is what drbdadm users script against.
  return 11;
}
