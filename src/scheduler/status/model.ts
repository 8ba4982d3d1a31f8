// What the status section says about nodes and resource history.
import type { Role } from '../cib/model.js';

/** One entry of an lrm_resource's operation history. */
export interface OpRecord {
  readonly id: string;
  readonly task: string;
  readonly intervalMs: number;
  readonly callId: number;
  readonly rc: number;
  readonly opStatus: number;
  readonly expectedRc: number;
  readonly lastRcChange?: number;
  readonly exitReason?: string;
  readonly opDigest?: string;
  /** Digest of the parameters that cannot be reloaded (agents that support reload). */
  readonly restartDigest?: string;
  /** Space-delimited names of the parameters a reload cannot apply, e.g. " ip port ". */
  readonly forceRestart?: string;
  /** Digest without the secret parameters, and their names (" passwd "). */
  readonly secureDigest?: string;
  readonly secureParams?: string;
  /** The crm_feature_set the entry was recorded with. */
  readonly featureSet?: string;
}

export interface ResourceHistory {
  readonly rscId: string;
  readonly class?: string;
  readonly provider?: string;
  readonly type?: string;
  ops: OpRecord[];
}

export interface NodeStateRecord {
  readonly id: string;
  readonly uname?: string;
  readonly inCcm?: string;
  readonly crmd?: string;
  readonly join?: string;
  readonly expected?: string;
  readonly transientAttrs: Record<string, string>;
  history: ResourceHistory[];
}

/** Node facts after unpacking, shared by placement and formatting. */
export interface NodeInfo {
  readonly id: string;
  readonly uname: string;
  readonly index: number;
  readonly attrs: Map<string, string>;
  readonly baseScore: number;
  online: boolean;
  unclean: boolean;
  shutdown: boolean;
  standby: boolean;
  standbyOnFail: boolean;
  pending: boolean;
  maintenance: boolean;
  expectedUp: boolean;
  fenceReason?: string;
  /** Set when the node has a node_state entry. */
  seen: boolean;
  numResources: number;
  /** Capacity left for placement (utilization attributes); set when the placement strategy uses it. */
  remainingCapacity?: Map<string, number>;
}

export type OnFail = 'ignore' | 'demote' | 'restart' | 'migrate' | 'block' | 'stop' | 'standby' | 'fence';

const onFailRank: Record<OnFail, number> = {
  ignore: 0, demote: 1, restart: 2, migrate: 3, block: 4, stop: 5, standby: 6, fence: 7,
};

export function worseOnFail(a: OnFail, b: OnFail): OnFail {
  return onFailRank[b] > onFailRank[a] ? b : a;
}

export function roleRank(r: Role): number {
  switch (r) {
    case 'Unknown': return 0;
    case 'Stopped': return 1;
    case 'Started': return 2;
    case 'Unpromoted': return 3;
    case 'Promoted': return 4;
  }
}
