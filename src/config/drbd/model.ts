// What a drbd.conf / *.res file means once parsed, inheritance from `common` applied.
// The parser (parser.ts) produces these; the daemon and the volume core consume them.

export type ReplicationProtocol = 'A' | 'B' | 'C';

/** Where a value came from, so later checks can point at the line that set it. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/** One `key value [value...];` option inside net/disk/startup/handlers/options/global. */
export interface OptionValue {
  /** Raw words after the keyword, quotes removed, e.g. ["sha1"] or ["15"]; [] for a flag like `always-asbp;`. */
  words: string[];
  /** Where the option keyword is. */
  at: SourceLocation;
  /** Where its (first) value is, when it has one; errors about the value point here. */
  valueAt?: SourceLocation;
}

export type OptionSection = Map<string, OptionValue>;

export type MetaDisk =
  | { kind: 'internal' }
  | { kind: 'external'; path: string; index: number | null };

export interface NetworkAddress {
  family: 'ipv4' | 'ipv6' | 'ssocks' | 'sdp' | 'sci';
  host: string;
  port: number;
}

export interface VolumeConfig {
  /** Volume number; 0 when the resource uses the short (volume-less) form. */
  volume: number;
  /** `/dev/drbdN` path, or null when only `device minor N` was given. */
  device: string | null;
  minor: number | null;
  /** Backing device or file; null for `disk none` (diskless). */
  disk: string | null;
  metaDisk: MetaDisk;
  /** Per-volume `disk { }` options written inside the volume block, if any. */
  diskOptions?: OptionSection;
  at: SourceLocation;
}

export interface HostConfig {
  /** `on alice bob { }` lists several names; usually one. */
  names: string[];
  nodeId: number | null;
  address: NetworkAddress | null;
  volumes: VolumeConfig[];
  /** `floating [af] ADDR:PORT { }`: matched by local IP, not by name (names is []). */
  floating?: boolean;
  /** `stacked-on-top-of RES { }`: the lower resource (names is []). */
  stackedOn?: string;
  at: SourceLocation;
}

/** DRBD 9 `connection { host A ...; host B ...; net { } }`, read loosely. */
export interface ConnectionConfig {
  hosts: string[];
  net: OptionSection;
  at: SourceLocation;
}

export interface ResourceConfig {
  name: string;
  protocol: ReplicationProtocol;
  net: OptionSection;
  disk: OptionSection;
  startup: OptionSection;
  handlers: OptionSection;
  options: OptionSection;
  hosts: HostConfig[];
  /** DRBD 9 `connection-mesh { hosts a b c; }` if present. */
  connectionMesh: string[] | null;
  /** `net { }` inside `connection-mesh`, if any. */
  connectionMeshNet?: OptionSection;
  /** DRBD 9 `connection { }` sections. */
  connections?: ConnectionConfig[];
  at: SourceLocation;
}

export interface DrbdConfig {
  /** Every file read, in order (the main file first, then includes). */
  files: string[];
  global: OptionSection;
  common: {
    net: OptionSection;
    disk: OptionSection;
    startup: OptionSection;
    handlers: OptionSection;
    options: OptionSection;
  };
  resources: ResourceConfig[];
}
