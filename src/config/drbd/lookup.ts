// Questions the daemon asks of a parsed config: which resource, which `on`
// section is this node, which volumes does it have here.
import { DrbdConfigError } from './errors.js';
import type { DrbdConfig, HostConfig, ResourceConfig, VolumeConfig } from './model.js';

export function findResource(cfg: DrbdConfig, name: string): ResourceConfig {
  const r = cfg.resources.find((x) => x.name === name);
  if (r !== undefined) return r;
  const known = cfg.resources.map((x) => x.name);
  // Line 0, column 0: the whole configuration rather than one place in it.
  throw new DrbdConfigError('DRBD_CONF_NOT_FOUND', { file: cfg.files[0] ?? '<config>', line: 0, column: 0 },
    `no resource named '${name}'; known resources: ${known.length > 0 ? known.join(', ') : '(none)'}`);
}

export function hostFor(resource: ResourceConfig, nodeName: string): HostConfig {
  const h = resource.hosts.find((x) => x.names.includes(nodeName));
  if (h !== undefined) return h;
  const known = resource.hosts.flatMap((x) => x.names);
  throw new DrbdConfigError('DRBD_CONF_NOT_FOUND', resource.at,
    `resource ${resource.name} has no 'on ${nodeName}' section; it has: ${known.length > 0 ? known.map((n) => `on ${n}`).join(', ') : '(none)'}`);
}

export function volumesFor(resource: ResourceConfig, nodeName: string): VolumeConfig[] {
  return hostFor(resource, nodeName).volumes;
}
