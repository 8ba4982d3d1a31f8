// A sync-handshake input for tests: two UpToDate Secondaries with DRBD's default
// policies, overridden field by field.

import { DiskState, Role } from '../../src/volume/states.js';
import type { SyncHandshakeInput, UuidSnapshot } from '../../src/volume/resync-decision.js';
import { DEFAULT_AFTER_SB_POLICIES, type AfterSbPolicies } from '../../src/volume/after-split-brain.js';

export function handshakeInput(
  self: UuidSnapshot,
  peer: UuidSnapshot,
  over: Partial<Omit<SyncHandshakeInput, 'policy'>> & { policy?: Partial<AfterSbPolicies> } = {},
): SyncHandshakeInput {
  const { policy, ...rest } = over;
  return {
    self,
    peer,
    selfDisk: DiskState.UpToDate,
    peerDisk: DiskState.UpToDate,
    selfRole: Role.Secondary,
    peerRole: Role.Secondary,
    resolveConflicts: false,
    policy: { ...DEFAULT_AFTER_SB_POLICIES, ...policy },
    selfDiscardMyData: false,
    peerDiscardMyData: false,
    ...rest,
  };
}
