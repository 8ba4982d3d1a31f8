// One resource on this node, wired: the pure ResourceCore decides, this module does
// the I/O its effects ask for (metadata writes, NBD exports, the local block device).
// Commands on one resource run one at a time.

import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ResourceConfig, VolumeConfig } from '../config/drbd/model.js';
import { optionBool } from '../config/drbd/index.js';
import { ResourceCore, type PersistentVolumeState, type ResourceEffect } from '../volume/resource-core.js';
import { Role } from '../volume/states.js';
import { StateChangeResult as SS, formatStateChangeFailure, isSuccess } from '../volume/state-results.js';
import type { DeviceCounters, ResourceStatus } from '../volume/status-format.js';
import type { FencingPolicy } from '../volume/state-rules.js';
import { createMetadata, readMetadata, writeSuperblock, dataWindow } from '../runtime/metadata-store.js';
import type { Superblock } from '../volume/metadata.js';
import { FileBlockExport } from '../runtime/nbd/file-export.js';
import type { NbdServer } from '../runtime/nbd/server.js';
import {
  createLocalDevice,
  removeLocalDevice,
  deviceOpeners,
  openerCount,
  flushDeviceBuffers,
  type LocalDevice,
} from '../runtime/local-device.js';
import { GatedExport, emptyCounters } from './gated-export.js';
import { VolumeExportDirectory, deviceExportName, publicExportName } from './export-directory.js';

export interface CommandOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const ok = (stdout = ''): CommandOutcome => ({ exitCode: 0, stdout, stderr: '' });
const fail = (exitCode: number, message: string): CommandOutcome => ({ exitCode, stdout: '', stderr: message + '\n' });

export interface RuntimeEnv {
  stateDir: string;
  nbdSocket: string;
  nbdTcp: { host: string; port: number } | null;
  nbd: NbdServer;
  directory: VolumeExportDirectory;
  log: { info(msg: string): void; warn(msg: string): void };
  /** Set up the local block device (nbdfuse + loop); tests of the pure parts may turn it off. */
  localDevices: boolean;
}

interface AttachedVolume {
  config: VolumeConfig;
  superblock: Superblock;
  data: FileBlockExport;
  publicExport: GatedExport;
  deviceExport: GatedExport;
  counters: DeviceCounters;
  device: LocalDevice | null;
}

const WRONG_MEDIUM = 'Wrong medium type';

export class ResourceRuntime {
  private core: ResourceCore;
  private readonly attached = new Map<number, AttachedVolume>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly config: ResourceConfig,
    private readonly volumes: VolumeConfig[],
    private readonly nodeId: number | null,
    private readonly peerNames: string[],
    private readonly env: RuntimeEnv,
  ) {
    this.core = this.newCore();
  }

  get name(): string {
    return this.config.name;
  }

  get isUp(): boolean {
    return this.attached.size > 0;
  }

  private newCore(): ResourceCore {
    const fencingWord = this.config.disk.get('fencing')?.words[0] ?? this.config.net.get('fencing')?.words[0];
    const fencing: FencingPolicy =
      fencingWord === 'resource-only' || fencingWord === 'resource-and-stonith' ? fencingWord : 'dont-care';
    return new ResourceCore(this.config.name, {
      // No peer links yet: the resource behaves as a StandAlone node.
      hasNetConfig: false,
      allowTwoPrimaries: optionBool(this.config.net, 'allow-two-primaries', false),
      fencing,
      verifyAlg: this.config.net.get('verify-alg')?.words[0] ?? '',
    });
  }

  /** Run commands on this resource one after another. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }

  createMd(force: boolean): Promise<CommandOutcome> {
    return this.serial(async () => {
      if (this.isUp) {
        return fail(20, `${this.name}: resource is up; meta data can only be created while it is down ('safeside down ${this.name}')`);
      }
      const lines: string[] = [];
      for (const v of this.volumes) {
        if (v.disk === null) continue;
        await createMetadata({
          resource: this.name,
          volume: v,
          maxPeers: Math.max(1, this.peerNames.length),
          force,
          nodeId: this.nodeId,
          randomBytes: (n: number) => randomBytes(n),
          out: (line: string) => lines.push(line),
        });
      }
      return ok(lines.map((l) => l + '\n').join(''));
    });
  }

  up(): Promise<CommandOutcome> {
    return this.serial(async () => {
      if (this.isUp) return fail(10, `${this.name}: Failure: (161) Minor or volume exists already (delete it first)`);
      this.core = this.newCore();
      try {
        for (const v of this.volumes) await this.attachVolume(v);
      } catch (err) {
        await this.detachAll();
        throw err;
      }
      return ok();
    });
  }

  private async attachVolume(v: VolumeConfig): Promise<void> {
    if (v.disk === null) throw new Error(`${this.name}/${v.volume}: diskless volumes need a peer, which this version does not support yet`);
    const { superblock, layout } = await readMetadata(v, { resource: this.name });
    const window = dataWindow(v, layout);
    const data = await FileBlockExport.open(v.disk, {
      name: publicExportName(this.name, v.volume),
      offsetBytes: window.offsetBytes,
      sizeBytes: window.sizeBytes,
    });
    const counters = emptyCounters();
    const roleGate = {
      refusal: (): string | null =>
        this.core.currentRole === Role.Primary ? null : `${WRONG_MEDIUM}: ${this.name} is Secondary on this node`,
    };
    const publicExport = new GatedExport(publicExportName(this.name, v.volume), data, roleGate, counters);
    const deviceExport = new GatedExport(deviceExportName(this.name, v.volume), data, roleGate, counters);
    const attached: AttachedVolume = { config: v, superblock, data, publicExport, deviceExport, counters, device: null };
    this.attached.set(v.volume, attached);
    await this.apply(this.core.step({ type: 'attach', volume: v.volume, persistent: persistentOf(superblock) }).effects);
    this.env.directory.register(publicExport.name, publicExport, {
      refusal: () =>
        this.core.currentRole === Role.Primary
          ? null
          : `${WRONG_MEDIUM} (${this.name} is Secondary on this node; promote it with 'safeside primary ${this.name}')`,
      listed: true,
    });
    this.env.directory.register(deviceExport.name, deviceExport, { refusal: () => null, listed: false });
    if (this.env.localDevices) {
      attached.device = await createLocalDevice({
        stateDir: this.env.stateDir,
        resource: this.name,
        volume: v.volume,
        nbdSocket: this.env.nbdSocket,
        exportName: deviceExport.name,
        logFile: path.join(this.env.stateDir, 'nbdfuse.log'),
      });
      this.env.log.info(`${this.name}/${v.volume}: local block device ${attached.device.path}`);
    }
  }

  down(): Promise<CommandOutcome> {
    return this.serial(async () => {
      if (!this.isUp) return ok();
      if (this.core.currentRole === Role.Primary) {
        const demoted = await this.demote();
        if (demoted.exitCode !== 0) return demoted;
      }
      await this.detachAll();
      return ok();
    });
  }

  private async detachAll(): Promise<void> {
    for (const a of [...this.attached.values()].reverse()) {
      this.env.directory.unregister(a.publicExport.name);
      this.env.directory.unregister(a.deviceExport.name);
      if (a.device) await removeLocalDevice(this.env.stateDir, a.device);
      this.env.nbd.disconnectExport(a.publicExport.name);
      this.env.nbd.disconnectExport(a.deviceExport.name);
      await a.data.flush();
      await a.data.close();
      this.core.step({ type: 'detach', volume: a.config.volume });
      this.attached.delete(a.config.volume);
    }
  }

  /** Openers that keep the resource from becoming Secondary: mounts, processes, NBD clients. */
  private openers(): { count: number; detail: string[] } {
    let count = 0;
    const detail: string[] = [];
    for (const a of this.attached.values()) {
      if (a.device) {
        const o = deviceOpeners(a.device.path);
        count += openerCount(o);
        for (const m of o.mountPoints) detail.push(`${a.device.path} is mounted on ${m}`);
        for (const p of o.pids) detail.push(`${a.device.path} is open in process ${p} (${processName(p)})`);
        for (const h of o.holders) detail.push(`${a.device.path} is held by ${h}`);
      }
      if (a.publicExport.openCount > 0) {
        count += a.publicExport.openCount;
        detail.push(`${a.publicExport.openCount} NBD client(s) connected to export '${a.publicExport.name}'`);
      }
    }
    return { count, detail };
  }

  primary(force: boolean): Promise<CommandOutcome> {
    return this.serial(async () => {
      if (!this.isUp) return fail(10, `${this.name}: resource is not up ('safeside up ${this.name}' first)`);
      const random = randomBytes(8).readBigUInt64BE(0);
      const step = this.core.step({ type: 'primary', force, openCount: this.openers().count, randomU64: random });
      if (!isSuccess(step.result)) return refused(this.name, step.result, []);
      await this.apply(step.effects);
      return ok();
    });
  }

  secondary(): Promise<CommandOutcome> {
    return this.serial(() => this.demote());
  }

  private async demote(): Promise<CommandOutcome> {
    if (!this.isUp) return fail(10, `${this.name}: resource is not up`);
    const openers = this.openers();
    const step = this.core.step({ type: 'secondary', openCount: openers.count });
    if (!isSuccess(step.result)) return refused(this.name, step.result, openers.detail);
    // Everything written while Primary reaches stable storage before we say Secondary.
    for (const a of this.attached.values()) await a.data.flush();
    await this.apply(step.effects);
    return ok();
  }

  private async apply(effects: ResourceEffect[]): Promise<void> {
    for (const e of effects) {
      switch (e.type) {
        case 'persist-metadata': {
          const a = this.attached.get(e.volume);
          if (!a) break;
          a.superblock = withPersistent(a.superblock, e.persistent);
          await writeSuperblock(a.config, a.superblock);
          break;
        }
        case 'export': {
          const a = this.attached.get(e.volume);
          if (!a) break;
          if (!e.enabled) {
            this.env.nbd.disconnectExport(a.publicExport.name);
          }
          // The page cache above the device must not outlive a role change.
          if (a.device) await flushDeviceBuffers(a.device.path);
          break;
        }
        case 'log':
          if (e.level === 'warn') this.env.log.warn(e.message);
          else this.env.log.info(e.message);
          break;
      }
    }
  }

  device(volume: number): CommandOutcome {
    const a = this.attached.get(volume);
    if (!a) {
      return fail(10, this.isUp ? `${this.name}: no volume ${volume}` : `${this.name}: resource is not up ('safeside up ${this.name}' first)`);
    }
    if (!a.device) return fail(1, `${this.name}/${volume}: no local block device (daemon runs without one)`);
    return ok(a.device.path + '\n');
  }

  nbdUri(volume: number): string {
    const name = encodeURIComponent(publicExportName(this.name, volume)).replace(/%2F/g, '/');
    if (this.env.nbdTcp) return `nbd://${this.env.nbdTcp.host}:${this.env.nbdTcp.port}/${name}`;
    return `nbd+unix:///${name}?socket=${this.env.nbdSocket}`;
  }

  status(): ResourceStatus {
    const devices = [...this.attached.values()]
      .sort((a, b) => a.config.volume - b.config.volume)
      .map((a) => {
        const view = this.core.volumeViews().find((v) => v.volume === a.config.volume);
        const open = a.device ? openerCount(deviceOpeners(a.device.path)) > 0 : false;
        return {
          volume: a.config.volume,
          minor: a.config.minor,
          disk: view!.disk,
          sizeKiB: Math.floor(a.data.sizeBytes / 1024),
          open: open || a.publicExport.openCount > 0,
          counters: { ...a.counters, readKiB: Math.floor(a.counters.readKiB), writtenKiB: Math.floor(a.counters.writtenKiB) },
          nbdUri: this.nbdUri(a.config.volume),
        };
      });
    return {
      name: this.name,
      nodeId: this.nodeId,
      role: this.core.currentRole,
      protocol: this.config.protocol,
      devices,
      connections: this.peerNames.map((peerName) => ({
        peerName,
        peerNodeId: this.config.hosts.find((h) => h.names.includes(peerName))?.nodeId ?? null,
        connection: this.core.connectionState,
        peerRole: Role.Unknown,
        peerDevices: [],
      })),
      nbdUri: devices.length > 0 ? this.nbdUri(devices[0]!.volume) : null,
    };
  }

  async shutdown(): Promise<void> {
    await this.serial(async () => {
      // A daemon stopping cleanly keeps its role on disk only as "was primary" if it was;
      // devices are torn down so nothing dangles.
      for (const a of this.attached.values()) {
        if (a.device) await removeLocalDevice(this.env.stateDir, a.device).catch(() => undefined);
        await a.data.flush().catch(() => undefined);
        await a.data.close().catch(() => undefined);
      }
      this.attached.clear();
    });
  }
}

function refused(name: string, rv: SS, detail: string[]): CommandOutcome {
  const lines = [formatStateChangeFailure(name, rv), ...detail.map((d) => `  ${d}`)];
  return { exitCode: 11, stdout: '', stderr: lines.join('\n') + '\n' };
}

function processName(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

function persistentOf(sb: Superblock): PersistentVolumeState {
  return {
    flags: sb.flags,
    currentUuid: sb.uuids.current,
    bitmapUuid: sb.uuids.bitmap,
    historyUuids: [sb.uuids.history[0], sb.uuids.history[1]],
  };
}

function withPersistent(sb: Superblock, p: PersistentVolumeState): Superblock {
  return {
    ...sb,
    flags: p.flags,
    uuids: { ...sb.uuids, current: p.currentUuid, bitmap: p.bitmapUuid, history: [p.historyUuids[0], p.historyUuids[1]] },
  };
}
