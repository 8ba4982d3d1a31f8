// What one file says, before includes are followed and `common` is applied.
// parser.ts produces these; assemble.ts turns them into the model.
import type { MetaDisk, NetworkAddress, OptionSection, SourceLocation } from './model.js';

export type OptionSectionName = 'net' | 'disk' | 'startup' | 'handlers' | 'options';

/** The option sections of a resource or of `common`. */
export interface SectionSet {
  sections: Record<OptionSectionName, OptionSection>;
  /** Where each section was first opened, to refuse a second `net { }` at the same level. */
  openedAt: Map<string, SourceLocation>;
}

export interface DeviceSpec {
  device: string | null;
  minor: number;
}

/** A volume as written at one level (resource or host); unset fields are inherited. */
export interface VolumeSyntax {
  number: number;
  /** True for device/disk/meta-disk written directly in the resource or `on` section (volume 0). */
  implicit: boolean;
  device?: DeviceSpec;
  /** null means `disk none` (diskless). */
  disk?: string | null;
  metaDisk?: MetaDisk;
  diskOptions?: OptionSection;
  at: SourceLocation;
}

export interface HostSyntax {
  names: string[];
  nodeId: number | null;
  address: NetworkAddress | null;
  volumes: Map<number, VolumeSyntax>;
  floating: boolean;
  stackedOn: string | null;
  at: SourceLocation;
}

export interface ConnectionSyntax {
  hosts: string[];
  net: OptionSection;
  at: SourceLocation;
}

export interface ResourceSyntax extends SectionSet {
  name: string;
  volumes: Map<number, VolumeSyntax>;
  hosts: HostSyntax[];
  connectionMesh: { hosts: string[]; net: OptionSection; at: SourceLocation } | null;
  connections: ConnectionSyntax[];
  at: SourceLocation;
}

export type TopItem =
  | { kind: 'global'; options: OptionSection; at: SourceLocation }
  | ({ kind: 'common'; at: SourceLocation } & SectionSet)
  | { kind: 'resource'; resource: ResourceSyntax; at: SourceLocation }
  | { kind: 'include'; pattern: string; at: SourceLocation };

export function emptySectionSet(): SectionSet {
  return {
    sections: { net: new Map(), disk: new Map(), startup: new Map(), handlers: new Map(), options: new Map() },
    openedAt: new Map(),
  };
}
