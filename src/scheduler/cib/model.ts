// Typed view of the configuration section of a CIB.

export type Role = 'Stopped' | 'Started' | 'Unpromoted' | 'Promoted' | 'Unknown';

export interface Expression {
  readonly kind: 'expression';
  readonly id: string;
  readonly attribute: string;
  readonly operation: string;
  readonly value?: string;
  readonly type?: string;
  readonly valueSource?: string;
}

export interface DateExpression {
  readonly kind: 'date';
  readonly id: string;
  readonly operation: string;
  readonly start?: string;
  readonly end?: string;
}

/** Expressions this port cannot evaluate yet (rsc/op expressions, date_spec); they evaluate to false. */
export interface OtherExpression {
  readonly kind: 'other';
  readonly id: string;
  readonly tag: string;
}

export interface Rule {
  readonly kind: 'rule';
  readonly id: string;
  readonly score?: number;
  readonly scoreAttribute?: string;
  readonly role?: Role;
  readonly booleanOp: 'and' | 'or';
  readonly parts: readonly (Expression | DateExpression | OtherExpression | Rule)[];
}

/** An attribute set (instance_attributes, meta_attributes, ...), resolved through id-refs. */
export interface NvSet {
  readonly id: string;
  readonly score: number;
  readonly rule?: Rule;
  readonly pairs: readonly { readonly name: string; readonly value: string }[];
}

export interface OpDef {
  readonly id: string;
  readonly name: string;
  readonly intervalMs: number;
  readonly role?: Role;
  readonly onFail?: string;
  readonly enabled: boolean;
  readonly meta: Readonly<Record<string, string>>;
  /** The op's own instance attributes, passed to the agent with the resource's. */
  readonly params?: Readonly<Record<string, string>>;
}

interface ResourceBase {
  readonly id: string;
  readonly meta: Readonly<Record<string, string>>;
  readonly metaSets: readonly NvSet[];
}

export interface PrimitiveDef extends ResourceBase {
  readonly kind: 'primitive';
  readonly class: string;
  readonly provider?: string;
  readonly type: string;
  readonly params: Readonly<Record<string, string>>;
  readonly ops: readonly OpDef[];
  /** What running it uses of a node's capacity (utilization attributes). */
  readonly utilization: Readonly<Record<string, string>>;
}

export interface GroupDef extends ResourceBase {
  readonly kind: 'group';
  readonly children: readonly PrimitiveDef[];
}

export interface CloneDef extends ResourceBase {
  readonly kind: 'clone';
  readonly promotable: boolean;
  readonly child: PrimitiveDef | GroupDef;
}

export type ResourceDef = PrimitiveDef | GroupDef | CloneDef;

export interface NodeDef {
  readonly id: string;
  readonly uname: string;
  readonly type: string;
  readonly score: number;
  readonly attrSets: readonly NvSet[];
  readonly utilization: Readonly<Record<string, string>>;
}

export interface LocationConstraint {
  readonly id: string;
  readonly rsc?: string;
  readonly rscPattern?: string;
  readonly role?: Role;
  readonly node?: string;
  readonly score?: number;
  readonly rules: readonly Rule[];
  readonly resourceDiscovery?: string;
  readonly resourceSets: readonly ResourceSet[];
  /** Set on constraints the scheduler makes itself, to explain where their scores come from. */
  readonly origin?: string;
}

export interface ResourceSet {
  readonly id: string;
  readonly resources: readonly string[];
  readonly sequential: boolean;
  readonly requireAll: boolean;
  readonly ordered?: boolean;
  readonly action?: string;
  readonly role?: Role;
  readonly score?: number;
  readonly kind?: string;
  /** Colocation sets: "listed" colocates each member with the next one (default "group": with the previous one). */
  readonly ordering?: string;
}

export interface ColocationConstraint {
  readonly id: string;
  readonly rsc?: string;
  readonly withRsc?: string;
  readonly score: number;
  readonly rscRole?: Role;
  readonly withRscRole?: Role;
  readonly nodeAttribute: string;
  readonly influence: boolean;
  readonly sets: readonly ResourceSet[];
}

export type OrderKind = 'Mandatory' | 'Optional' | 'Serialize';

export interface OrderConstraint {
  readonly id: string;
  readonly first?: string;
  readonly then?: string;
  readonly firstAction: string;
  readonly thenAction: string;
  readonly kind: OrderKind;
  readonly symmetrical: boolean;
  readonly sets: readonly ResourceSet[];
  /** require-all="false" on a simple order: one instance of a "first" clone is enough (like clone-min=1). */
  readonly requireAll?: boolean;
}

export type TicketLossPolicy = 'stop' | 'demote' | 'fence' | 'freeze';

/** rsc_ticket: a resource may only run while the ticket is granted (and not in standby). */
export interface TicketConstraint {
  readonly id: string;
  readonly ticket: string;
  readonly rsc?: string;
  readonly rscRole?: Role;
  /** Unset means the default: demote for the Promoted role, stop otherwise. */
  readonly lossPolicy?: TicketLossPolicy;
  readonly sets: readonly ResourceSet[];
}

/** A ticket's state from the status section; a ticket without state is not granted. */
export interface TicketState {
  readonly granted: boolean;
  readonly standby: boolean;
}

export interface ClusterOptions {
  readonly raw: Readonly<Record<string, string>>;
  readonly stonithEnabled: boolean;
  readonly symmetricCluster: boolean;
  readonly noQuorumPolicy: 'stop' | 'freeze' | 'ignore' | 'demote' | 'suicide';
  readonly stonithAction: string;
  readonly startFailureIsFatal: boolean;
  readonly maintenanceMode: boolean;
  readonly stopAllResources: boolean;
  readonly stopOrphanResources: boolean;
  readonly stopOrphanActions: boolean;
  readonly placementStrategy: string;
  readonly defaultStickiness: number;
  readonly defaultMigrationThreshold?: string;
  readonly nodeHealthBase: number;
}

export interface CibConfig {
  readonly options: ClusterOptions;
  readonly haveQuorum: boolean;
  readonly dcUuid?: string;
  readonly executionDate?: number;
  readonly validateWith?: string;
  /** The CIB's crm_feature_set: before 3.0.13, fail counts were kept per resource, not per operation. */
  readonly featureSet?: string;
  readonly noQuorumPanic: boolean;
  readonly nodes: readonly NodeDef[];
  readonly resources: readonly ResourceDef[];
  readonly locations: readonly LocationConstraint[];
  readonly colocations: readonly ColocationConstraint[];
  readonly orders: readonly OrderConstraint[];
  readonly tickets: readonly TicketConstraint[];
  readonly ticketStates: ReadonlyMap<string, TicketState>;
  readonly rscDefaults: readonly NvSet[];
  readonly opDefaults: readonly NvSet[];
  /** Attribute sets by id for id-ref resolution elsewhere. */
  readonly warnings: readonly string[];
}

export function normalizeRole(r: string | undefined): Role | undefined {
  if (r === undefined) return undefined;
  switch (r) {
    case 'Master': case 'Promoted': return 'Promoted';
    case 'Slave': case 'Unpromoted': return 'Unpromoted';
    case 'Started': return 'Started';
    case 'Stopped': return 'Stopped';
    default: return undefined;
  }
}
