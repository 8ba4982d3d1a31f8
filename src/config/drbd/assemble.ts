// Turns the items of all files (includes already followed) into the model:
// checks what spans sections (one global, before resources; one common;
// unique resources, hosts, node ids, minors), applies `common`, and gives
// each `on` section its volumes with resource-level values inherited.
import { DrbdConfigError, where } from './errors.js';
import type {
  DrbdConfig, HostConfig, MetaDisk, OptionSection, ReplicationProtocol, ResourceConfig, SourceLocation, VolumeConfig,
} from './model.js';
import { emptySectionSet, type HostSyntax, type OptionSectionName, type ResourceSyntax, type SectionSet, type TopItem, type VolumeSyntax } from './syntax.js';

const SECTIONS: OptionSectionName[] = ['net', 'disk', 'startup', 'handlers', 'options'];
/** DRBD's default replication protocol. */
export const DEFAULT_PROTOCOL: ReplicationProtocol = 'C';

export function assemble(items: TopItem[], files: string[]): DrbdConfig {
  let global: Extract<TopItem, { kind: 'global' }> | null = null;
  let common: (SectionSet & { at: SourceLocation }) | null = null;
  const resources: ResourceSyntax[] = [];
  const byName = new Map<string, ResourceSyntax>();

  for (const item of items) {
    switch (item.kind) {
      case 'global':
        if (global !== null) {
          throw new DrbdConfigError('DRBD_CONF_DUPLICATE', item.at,
            `second 'global' section; the first is at ${where(global.at, item.at.file)}; expected only one`);
        }
        if (resources.length > 0) {
          throw new DrbdConfigError('DRBD_CONF_SYNTAX', item.at,
            `'global' section after 'resource ${resources[0]!.name}' (at ${where(resources[0]!.at, item.at.file)}); expected 'global' before any resource`);
        }
        global = item;
        break;
      case 'common':
        if (common !== null) {
          throw new DrbdConfigError('DRBD_CONF_DUPLICATE', item.at,
            `second 'common' section; the first is at ${where(common.at, item.at.file)}; expected only one`);
        }
        common = item;
        break;
      case 'resource': {
        const r = item.resource;
        const first = byName.get(r.name);
        if (first !== undefined) {
          throw new DrbdConfigError('DRBD_CONF_DUPLICATE', r.at,
            `resource '${r.name}' is defined twice; the first is at ${where(first.at, r.at.file)}; expected unique resource names`);
        }
        byName.set(r.name, r);
        resources.push(r);
        break;
      }
      case 'include':
        throw new Error('include items must be expanded before assembling');
    }
  }

  const base = common ?? emptySectionSet();
  const built = resources.map((r) => buildResource(r, base));
  checkMinorsPerHost(built);
  return {
    files,
    global: global?.options ?? new Map(),
    common: {
      net: base.sections.net, disk: base.sections.disk, startup: base.sections.startup,
      handlers: base.sections.handlers, options: base.sections.options,
    },
    resources: built,
  };
}

/** Resource settings override common ones key by key. */
function inherit(from: OptionSection, over: OptionSection): OptionSection {
  return new Map([...from, ...over]);
}

function buildResource(r: ResourceSyntax, common: SectionSet): ResourceConfig {
  const sections = Object.fromEntries(
    SECTIONS.map((s) => [s, inherit(common.sections[s], r.sections[s])]),
  ) as Record<OptionSectionName, OptionSection>;
  const protocol = (sections.net.get('protocol')?.words[0] ?? DEFAULT_PROTOCOL) as ReplicationProtocol;

  const seenName = new Map<string, SourceLocation>();
  const seenNodeId = new Map<number, HostSyntax>();
  for (const h of r.hosts) {
    for (const n of h.names) {
      const first = seenName.get(n);
      if (first !== undefined) {
        throw new DrbdConfigError('DRBD_CONF_DUPLICATE', h.at,
          `host '${n}' has a second 'on' section in resource ${r.name}; the first is at ${where(first, h.at.file)}; expected one 'on ${n}' per resource`);
      }
      seenName.set(n, h.at);
    }
    if (h.nodeId !== null) {
      const other = seenNodeId.get(h.nodeId);
      if (other !== undefined) {
        throw new DrbdConfigError('DRBD_CONF_DUPLICATE', h.at,
          `node-id ${h.nodeId} is used twice in resource ${r.name} (also by 'on ${other.names.join(' ')}' at ${where(other.at, h.at.file)}); expected a different node-id per host`);
      }
      seenNodeId.set(h.nodeId, h);
    }
  }

  if (r.connectionMesh !== null) {
    for (const n of r.connectionMesh.hosts) {
      if (!seenName.has(n)) {
        throw new DrbdConfigError('DRBD_CONF_MISSING', r.connectionMesh.at,
          `connection-mesh names host '${n}' but resource ${r.name} has no 'on ${n}' section; known hosts: ${[...seenName.keys()].join(', ') || '(none)'}`);
      }
    }
  }

  const res: ResourceConfig = {
    name: r.name,
    protocol,
    net: sections.net,
    disk: sections.disk,
    startup: sections.startup,
    handlers: sections.handlers,
    options: sections.options,
    hosts: r.hosts.map((h) => buildHost(r, h)),
    connectionMesh: r.connectionMesh?.hosts ?? null,
    connections: r.connections.map((c) => ({ hosts: c.hosts, net: c.net, at: c.at })),
    at: r.at,
  };
  if (r.connectionMesh !== null) res.connectionMeshNet = r.connectionMesh.net;
  return res;
}

function hostLabel(h: HostSyntax): string {
  if (h.floating) return `floating ${h.address?.host}:${h.address?.port}`;
  if (h.stackedOn !== null) return `stacked-on-top-of ${h.stackedOn}`;
  return `on ${h.names.join(' ')}`;
}

/** Volume n of a host: host-level fields win, resource-level ones fill the gaps. */
function buildHost(r: ResourceSyntax, h: HostSyntax): HostConfig {
  const numbers = [...new Set([...r.volumes.keys(), ...h.volumes.keys()])].sort((a, b) => a - b);
  const volumes = numbers.map((n) => buildVolume(r, h, n, r.volumes.get(n), h.volumes.get(n)));
  const host: HostConfig = { names: h.names, nodeId: h.nodeId, address: h.address, volumes, at: h.at };
  if (h.floating) host.floating = true;
  if (h.stackedOn !== null) host.stackedOn = h.stackedOn;
  return host;
}

function buildVolume(r: ResourceSyntax, h: HostSyntax, n: number, atResource?: VolumeSyntax, atHost?: VolumeSyntax): VolumeConfig {
  const at = atHost?.at ?? h.at;
  // A missing field is reported at the volume block, or at the host section for the volume-less form.
  const blame = atHost !== undefined && !atHost.implicit ? atHost.at : h.at;
  const missing = (field: string, example: string): DrbdConfigError =>
    new DrbdConfigError('DRBD_CONF_MISSING', blame,
      `in resource ${r.name}, ${hostLabel(h)}: volume ${n} has no '${field}'; expected '${example}' in the volume, the host section or the resource`);
  const device = atHost?.device ?? atResource?.device;
  if (device === undefined) throw missing('device', 'device /dev/drbdN;');
  const disk = atHost?.disk !== undefined ? atHost.disk : atResource?.disk;
  if (disk === undefined) throw missing('disk', 'disk /dev/XXX;');
  // DRBD 9 defaults meta-disk to internal (8.4's drbdadm demanded it).
  const metaDisk: MetaDisk = atHost?.metaDisk ?? atResource?.metaDisk ?? { kind: 'internal' };
  const vol: VolumeConfig = { volume: n, device: device.device, minor: device.minor, disk, metaDisk, at };
  if (atResource?.diskOptions !== undefined || atHost?.diskOptions !== undefined) {
    vol.diskOptions = inherit(atResource?.diskOptions ?? new Map(), atHost?.diskOptions ?? new Map());
  }
  return vol;
}

/** A minor is a device node on a host: two volumes on the same host cannot share it. */
function checkMinorsPerHost(resources: ResourceConfig[]): void {
  const used = new Map<string, { resource: string; volume: number; at: SourceLocation }>();
  for (const r of resources) {
    for (const h of r.hosts) {
      for (const name of h.names) {
        for (const v of h.volumes) {
          if (v.minor === null) continue;
          const key = `${name}\0${v.minor}`;
          const first = used.get(key);
          if (first !== undefined) {
            throw new DrbdConfigError('DRBD_CONF_DUPLICATE', v.at,
              `minor ${v.minor} on host '${name}' is used by resource ${r.name} volume ${v.volume} and by resource ${first.resource} volume ${first.volume} (at ${where(first.at, v.at.file)}); expected a different minor per volume on a host`);
          }
          used.set(key, { resource: r.name, volume: v.volume, at: v.at });
        }
      }
    }
  }
}
