// The superblock's MDF_* flag bits as the replication core reads them, and the disk
// state they give on attach.

import { DiskState } from './states.js';
import type { FencingPolicy } from './state-rules.js';

/** DRBD's MDF_* superblock flag bits (the same values as metadata.ts's MDF_* constants). */
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

/** Disk state after attach, from the superblock flags (DRBD's drbd_adm_attach). */
export function diskStateOnAttach(flags: number, fencing: FencingPolicy): DiskState {
  if ((flags & MetaFlag.Consistent) === 0) return DiskState.Inconsistent;
  if ((flags & MetaFlag.WasUpToDate) === 0) return DiskState.Outdated;
  // A Consistent disk counts as UpToDate when nobody needs to be asked (no fencing),
  // or when the peer is known to be outdated.
  if (fencing === 'dont-care' || (flags & MetaFlag.PeerOutdated) !== 0) return DiskState.UpToDate;
  return DiskState.Consistent;
}
