// Differential test: what drbdadm (drbd-utils) understands from a config vs what we do.
// `drbdadm -c FILE dump all` prints its normalized reading; a small reader
// below (independent of our parser) turns that into plain data, applies
// common{} and resource-level volumes the way DRBD does, and we compare.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DrbdConfigError, type DrbdConfig, type MetaDisk, type OptionSection } from '../../src/config/drbd/index.js';
import { loadDrbdConfig } from '../../src/runtime/drbd-config-loader.js';

const DRBDADM = '/usr/sbin/drbdadm';
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/drbd/', import.meta.url));
const skip = fs.existsSync(DRBDADM) ? false : `${DRBDADM} not installed (apt-get install drbd-utils)`;

// ---- running drbdadm ---------------------------------------------------------

interface Run { status: number; stdout: string; stderr: string }

/** DRBD 8.4 mode for classic configs, 9 when the config uses node-id (8.4 would refuse it). */
function drbdadm(file: string, text: string): Run {
  const node = /\bon\s+([A-Za-z0-9_.-]+)/.exec(text)?.[1] ?? 'undertest';
  const version = /node-id|connection-mesh/.test(text) ? '9.0.0' : '8.4.0';
  const r = spawnSync(DRBDADM, ['-c', file, 'dump', 'all'], {
    encoding: 'utf8',
    env: { ...process.env, __DRBD_NODE__: node, DRBD_DRIVER_VERSION_OVERRIDE: version },
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// ---- reading drbdadm's dump output ----------------------------------------------

interface Stmt { words: string[]; block: Stmt[] | null }

function readDump(text: string): Stmt[] {
  const toks = text.match(/#[^\n]*|"(?:[^"\\]|\\.)*"|[{};]|[^\s{};"#]+/g) ?? [];
  let i = 0;
  const list = (): Stmt[] => {
    const out: Stmt[] = [];
    let words: string[] = [];
    while (i < toks.length) {
      const t = toks[i++]!;
      if (t.startsWith('#')) continue;
      if (t === '}') break;
      if (t === ';') { out.push({ words, block: null }); words = []; continue; }
      if (t === '{') { out.push({ words, block: list() }); words = []; continue; }
      words.push(t.startsWith('"') ? t.slice(1, -1).replace(/\\(.)/g, '$1') : t);
    }
    return out;
  };
  return list();
}

type Options = Record<string, string>;
interface Vol { device: string | null; minor: number; disk: string | null; metaDisk: string }
interface Res {
  hosts: Record<string, { address: string | null; nodeId: number | null; volumes: Record<number, Vol> }>;
  net: Options; disk: Options; startup: Options; options: Options; handlers: Options;
  mesh: string[] | null; meshNet: Options;
}
const SECTIONS = ['net', 'disk', 'startup', 'options', 'handlers'] as const;

function optionsOf(block: Stmt[] | null | undefined): Options {
  const o: Options = {};
  for (const s of block ?? []) if (s.block === null) o[s.words[0]!] = s.words.length > 1 ? s.words.slice(1).join(' ') : 'yes';
  return o;
}

type PartialVol = Partial<Vol>;
function volumeField(s: Stmt, v: PartialVol): boolean {
  const [k, ...rest] = s.words;
  if (s.block !== null) return false;
  if (k === 'device') {
    const mi = rest.indexOf('minor');
    v.minor = mi >= 0 ? Number(rest[mi + 1]) : Number(/(\d+)$/.exec(rest[0]!)![1]);
    v.device = mi === 0 ? null : rest[0]!;
  } else if (k === 'disk') v.disk = rest[0] === 'none' ? null : rest[0]!;
  else if (k === 'meta-disk' || k === 'flexible-meta-disk') v.metaDisk = rest.join('').replace(/\[(\d+)\]$/, '[$1]');
  else return false;
  return true;
}

function volumesOf(block: Stmt[]): Map<number, PartialVol> {
  const vols = new Map<number, PartialVol>();
  for (const s of block) {
    if (s.words[0] === 'volume' && s.block !== null) {
      const v: PartialVol = {};
      for (const f of s.block) volumeField(f, v);
      vols.set(Number(s.words[1]), v);
    } else {
      const v = vols.get(0) ?? {};
      if (volumeField(s, v)) vols.set(0, v);
    }
  }
  return vols;
}

function mergeVol(r: PartialVol | undefined, h: PartialVol | undefined): Vol {
  const pick = <K extends keyof Vol>(k: K): Vol[K] | undefined => (h && k in h ? h[k] : r?.[k]) as Vol[K] | undefined;
  return { device: pick('device') ?? null, minor: pick('minor')!, disk: pick('disk') ?? null, metaDisk: pick('metaDisk') ?? 'internal' };
}

function fromDump(text: string): Record<string, Res> {
  const top = readDump(text);
  const common = top.find((s) => s.words[0] === 'common')?.block ?? [];
  const out: Record<string, Res> = {};
  for (const r of top.filter((s) => s.words[0] === 'resource')) {
    const body = r.block!;
    const res = { hosts: {}, mesh: null, meshNet: {} } as unknown as Res;
    for (const sec of SECTIONS) {
      res[sec] = { ...optionsOf(common.find((s) => s.words[0] === sec)?.block), ...optionsOf(body.find((s) => s.words[0] === sec && s.block !== null)?.block) };
    }
    const resVols = volumesOf(body.filter((s) => s.words[0] !== 'on'));
    for (const on of body.filter((s) => s.words[0] === 'on')) {
      const hostVols = volumesOf(on.block!);
      const nums = [...new Set([...resVols.keys(), ...hostVols.keys()])].sort((a, b) => a - b);
      const volumes: Record<number, Vol> = {};
      for (const n of nums) volumes[n] = mergeVol(resVols.get(n), hostVols.get(n));
      const addr = on.block!.find((s) => s.words[0] === 'address');
      const nodeId = on.block!.find((s) => s.words[0] === 'node-id');
      for (const name of on.words.slice(1)) {
        res.hosts[name] = { address: addr ? addr.words.slice(1).join(' ') : null, nodeId: nodeId ? Number(nodeId.words[1]) : null, volumes };
      }
    }
    const mesh = body.find((s) => s.words[0] === 'connection-mesh');
    if (mesh) {
      res.mesh = mesh.block!.find((s) => s.words[0] === 'hosts')!.words.slice(1);
      res.meshNet = optionsOf(mesh.block!.find((s) => s.words[0] === 'net')?.block);
    }
    out[r.words[1]!] = res;
  }
  return out;
}

// ---- the same shape from our model --------------------------------------------------

function ours(section: OptionSection | undefined): Options {
  const o: Options = {};
  for (const [k, v] of section ?? []) o[k] = v.words.length === 0 ? 'yes' : v.words.join(' ');
  return o;
}
const md = (m: MetaDisk): string => (m.kind === 'internal' ? 'internal' : m.index === null ? m.path : `${m.path}[${m.index}]`);

function fromModel(cfg: DrbdConfig, autoNodeIds: boolean): Record<string, Res> {
  const out: Record<string, Res> = {};
  for (const r of cfg.resources) {
    const res = { hosts: {}, mesh: r.connectionMesh, meshNet: ours(r.connectionMeshNet) } as unknown as Res;
    for (const sec of SECTIONS) res[sec] = ours(r[sec]);
    r.hosts.forEach((h, i) => {
      const volumes: Record<number, Vol> = {};
      for (const v of h.volumes) volumes[v.volume] = { device: v.device, minor: v.minor!, disk: v.disk, metaDisk: md(v.metaDisk) };
      const address = h.address === null ? null : `${h.address.family} ${h.address.family === 'ipv6' ? `[${h.address.host}]` : h.address.host}:${h.address.port}`;
      // drbdadm 9 numbers hosts in order when no node-id is written
      for (const name of h.names) res.hosts[name] = { address, nodeId: h.nodeId ?? (autoNodeIds ? i : null), volumes };
    });
    out[r.name] = res;
  }
  return out;
}

// ---- accepted configs: same meaning ---------------------------------------------------

const GOOD = ['seed-listing2-addresses.conf', 'man-page-example.res', 'common-inheritance.conf', 'multi-volume.res',
  'syncer-8.3.conf', 'drbd9-mesh.res', 'handlers-startup.res'];

for (const name of GOOD) {
  test(`drbdadm and safeside read ${name} the same way`, { skip }, () => {
    const file = path.join(FIXTURES, name);
    const text = fs.readFileSync(file, 'utf8');
    const run = drbdadm(file, text);
    assert.equal(run.status, 0, `drbdadm refused ${name}: ${run.stderr}`);
    const cfg = loadDrbdConfig(file);
    const expected = fromDump(run.stdout);
    assert.ok(Object.keys(expected).length > 0, 'drbdadm dump printed no resources');
    assert.deepEqual(fromModel(cfg, /node-id|connection-mesh/.test(text)), expected);
    // global options we read are the ones drbdadm shows
    const theirGlobal = optionsOf(readDump(run.stdout).find((s) => s.words[0] === 'global')?.block);
    for (const [k, v] of Object.entries(ours(cfg.global))) assert.equal(theirGlobal[k], v, `global ${k}`);
  });
}

// ---- refused configs: both refuse, and where drbdadm names a line it is ours ------------

const HOSTS = `  on alice {
    device minor 1;
    disk /dev/sda7;
    meta-disk internal;
    address 10.1.1.31:7789;
  }
  on bob {
    device minor 1;
    disk /dev/sda7;
    meta-disk internal;
    address 10.1.1.32:7789;
  }`;
const wrap = (inside: string, after = ''): string => `global { disable-ip-verification; }\nresource r0 {\n${inside}\n${HOSTS}\n}\n${after}`;

const BAD: Array<{ name: string; text: string; sameLine: boolean }> = [
  { name: 'seed listing as printed', text: fs.readFileSync(path.join(FIXTURES, 'seed-listing2-as-printed.conf'), 'utf8'), sameLine: false },
  { name: 'unknown option', text: wrap('  net {\n    cram-hmac-algo sha1;\n  }'), sameLine: true },
  { name: 'bad protocol', text: wrap('  protocol D;'), sameLine: false },
  { name: 'bad number', text: wrap('  net { timeout 6x0; }'), sameLine: false },
  { name: 'number out of range', text: wrap('  net {\n    timeout 0;\n  }'), sameLine: true },
  { name: "missing ';'", text: wrap('  net { timeout 60 }'), sameLine: true },
  { name: "unexpected '}'", text: wrap('', '}\n'), sameLine: true },
  { name: 'duplicate resource', text: wrap('', 'resource r0 {\n}\n'), sameLine: true },
  { name: 'missing resource name', text: 'resource {\n}\n', sameLine: true },
  { name: 'unterminated string', text: wrap('  net {\n    shared-secret "abc;\n  }'), sameLine: true },
  { name: 'duplicate host', text: wrap('', '').replace(/}\n$/, `  on alice {\n    device minor 2;\n    disk /dev/x;\n    meta-disk internal;\n    address 10.1.1.33:7789;\n  }\n}\n`), sameLine: false },
  { name: 'missing literal include', text: `include "no-such-file.conf";\n${wrap('')}`, sameLine: true },
  { name: 'bad boolean', text: wrap('  net {\n    allow-two-primaries on;\n  }'), sameLine: true },
  { name: 'device without minor', text: wrap('').replace(/device minor 1;/g, 'device /dev/foo;'), sameLine: false },
  { name: 'port out of range', text: wrap('').replace('10.1.1.31:7789', '10.1.1.31:77890'), sameLine: true },
];

test('bad configs: drbdadm and safeside both refuse, at the same line where drbdadm names one', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drbdadm-bad-'));
  try {
    for (const bad of BAD) {
      const file = path.join(dir, 'bad.conf');
      fs.writeFileSync(file, bad.text);
      const run = drbdadm(file, bad.text);
      assert.notEqual(run.status, 0, `drbdadm accepted '${bad.name}'`);
      let err: DrbdConfigError | null = null;
      try {
        loadDrbdConfig(file);
      } catch (e) {
        if (!(e instanceof DrbdConfigError)) throw e;
        err = e;
      }
      assert.ok(err !== null, `safeside accepted '${bad.name}' which drbdadm refuses: ${run.stderr}`);
      const theirLine = /bad\.conf:(\d+):/.exec(run.stderr)?.[1];
      if (bad.sameLine) {
        assert.ok(theirLine !== undefined, `drbdadm named no line for '${bad.name}': ${run.stderr}`);
        assert.equal(err.line, Number(theirLine), `'${bad.name}': drbdadm said ${run.stderr.trim()} — we said ${err.message}`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
