import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DrbdConfigError, findResource, hostFor, optionBool, optionInt, optionSize, optionString,
  parseDrbdConfig, volumesFor, type OptionSection,
} from '../../src/config/drbd/index.js';
import { loadDrbdConfig } from '../../src/runtime/drbd-config-loader.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/drbd/', import.meta.url));
const fixture = (name: string): string => path.join(FIXTURES, name);

function words(section: OptionSection): Record<string, string[]> {
  return Object.fromEntries([...section].map(([k, v]) => [k, v.words]));
}

test('seed Listing 2 as printed (closing braces missing) is refused at the unclosed startup section', () => {
  const text = fs.readFileSync(fixture('seed-listing2-as-printed.conf'), 'utf8');
  assert.throws(() => parseDrbdConfig(text, 'seed.conf'), (e: unknown) => {
    assert.ok(e instanceof DrbdConfigError);
    assert.equal(e.code, 'DRBD_CONF_UNCLOSED_SECTION');
    assert.equal(e.file, 'seed.conf');
    assert.equal(e.line, 9); // `net {` — where the '}' was due
    assert.equal(e.column, 9);
    assert.match(e.message, /^seed\.conf:9:9: 'startup' section opened at line 6, column 9 is not closed before 'net'/);
    assert.match(e.message, /expected '\}'/);
    return true;
  });
  // Through the file loader too (the syntax error wins over the includes it names).
  assert.throws(() => loadDrbdConfig(fixture('seed-listing2-as-printed.conf')), { code: 'DRBD_CONF_UNCLOSED_SECTION' });
});

test('seed Listing 2 with braces closed parses (includes, no addresses)', () => {
  const cfg = loadDrbdConfig(fixture('seed-listing2.conf'));
  assert.deepEqual(cfg.files.map((f) => path.relative(FIXTURES, f)), ['seed-listing2.conf', 'drbd.d/global_common.conf']);
  assert.deepEqual(words(cfg.global), { 'usage-count': ['no'], 'udev-always-use-vnr': [] });
  assert.equal(cfg.resources.length, 1);
  const r0 = findResource(cfg, 'r0');
  assert.equal(r0.protocol, 'C');
  assert.equal(optionInt(r0.startup, 'wfc-timeout', -1), 15);
  assert.equal(optionInt(r0.startup, 'degr-wfc-timeout', -1), 60);
  assert.equal(optionString(r0.net, 'cram-hmac-alg', ''), 'sha1');
  assert.equal(optionString(r0.net, 'shared-secret', ''), 'secret');
  assert.deepEqual(r0.hosts.map((h) => h.names), [['ubu22042-1'], ['ubu22042-2']]);
  for (const name of ['ubu22042-1', 'ubu22042-2']) {
    const host = hostFor(r0, name);
    assert.equal(host.address, null);
    assert.equal(host.nodeId, null);
    const [v, ...rest] = volumesFor(r0, name);
    assert.equal(rest.length, 0);
    assert.deepEqual({ ...v!, at: undefined }, {
      volume: 0, device: '/dev/drbd0', minor: 0, disk: '/dev/sdb', metaDisk: { kind: 'internal' }, at: undefined,
    });
  }
});

test('drbd.conf man page example: volumes, device minor, resync-rate 10M', () => {
  const cfg = loadDrbdConfig(fixture('man-page-example.res'));
  const r0 = findResource(cfg, 'r0');
  assert.equal(r0.protocol, 'C');
  assert.equal(optionInt(r0.disk, 'resync-rate', 0), 10240); // KiB/s
  assert.equal(optionSize(r0.disk, 'resync-rate', 0), 10 * 2 ** 20); // bytes/s
  const alice = hostFor(r0, 'alice');
  assert.deepEqual(alice.address, { family: 'ipv4', host: '10.1.1.31', port: 7789 });
  assert.equal(alice.volumes[0]!.device, null);
  assert.equal(alice.volumes[0]!.minor, 1);
  assert.equal(alice.volumes[0]!.disk, '/dev/sda7');
});

test('units: K/M/G suffixes, sectors, default units per option', () => {
  const cfg = parseDrbdConfig(`resource r { disk { resync-rate 10M; size 20G; c-fill-target 100; c-max-rate 100M; c-min-rate 250; }
    net { sndbuf-size 512K; congestion-fill 400M; timeout 60; max-buffers 8K; } }`, 'u.conf');
  const r = cfg.resources[0]!;
  assert.equal(optionInt(r.disk, 'resync-rate', 0), 10 * 1024);
  assert.equal(optionInt(r.disk, 'size', 0), 20 * 2 ** 21); // sectors
  assert.equal(optionSize(r.disk, 'size', 0), 20 * 2 ** 30);
  assert.equal(optionInt(r.disk, 'c-fill-target', 0), 100); // sectors
  assert.equal(optionSize(r.disk, 'c-fill-target', 0), 51200);
  assert.equal(optionInt(r.disk, 'c-max-rate', 0), 102400);
  assert.equal(optionSize(r.disk, 'c-min-rate', 0), 250 * 1024);
  assert.equal(optionSize(r.net, 'sndbuf-size', 0), 512 * 1024);
  assert.equal(optionInt(r.net, 'congestion-fill', 0), 400 * 2048);
  assert.equal(optionInt(r.net, 'timeout', 0), 60); // 0.1 s
  assert.equal(optionInt(r.net, 'max-buffers', 0), 8192);
  // defaults when unset
  assert.equal(optionInt(r.net, 'ping-int', 10), 10);
  assert.equal(optionSize(r.disk, 'al-extents', 7), 7);
  const s = parseDrbdConfig('resource r { disk { resync-rate 100s; size 2048; } }', 's.conf').resources[0]!;
  assert.equal(optionInt(s.disk, 'resync-rate', 0), 50); // 100 sectors = 50 KiB
  assert.equal(optionSize(s.disk, 'size', 0), 2048 * 512);
});

test('booleans: flag, yes, no, no-* spellings', () => {
  const r = parseDrbdConfig(`resource r { net { always-asbp; allow-two-primaries no; use-rle yes; }
    disk { no-disk-flushes; md-flushes no; } }`, 'b.conf').resources[0]!;
  assert.equal(optionBool(r.net, 'always-asbp', false), true);
  assert.equal(optionBool(r.net, 'allow-two-primaries', true), false);
  assert.equal(optionBool(r.net, 'use-rle', false), true);
  assert.equal(optionBool(r.disk, 'disk-flushes', true), false);
  assert.equal(optionBool(r.disk, 'md-flushes', true), false);
  assert.equal(optionBool(r.disk, 'disk-barrier', true), true);
});

test('typed readers report file:line:col and the expected form for bad values', () => {
  const r = parseDrbdConfig('resource r {\n  net { cram-hmac-alg sha1; }\n}', 'v.conf').resources[0]!;
  assert.throws(() => optionInt(r.net, 'cram-hmac-alg', 0), (e: unknown) => {
    assert.ok(e instanceof DrbdConfigError);
    assert.equal(e.code, 'DRBD_CONF_BAD_VALUE');
    assert.equal(e.message, "v.conf:2:23: bad value 'sha1' for 'cram-hmac-alg': it is not a number; expected a number, optionally with a K, M, G or s suffix");
    return true;
  });
  assert.throws(() => optionBool(r.net, 'cram-hmac-alg', false), { code: 'DRBD_CONF_BAD_VALUE', line: 2, column: 23 });
});

test('common is inherited, resource settings override key by key; resource-level volumes go into on sections', () => {
  const cfg = loadDrbdConfig(fixture('common-inheritance.conf'));
  const data = findResource(cfg, 'data');
  assert.equal(data.protocol, 'B'); // from common
  assert.deepEqual(words(data.net), {
    protocol: ['B'], timeout: ['70'], 'after-sb-0pri': ['discard-zero-changes'], 'after-sb-1pri': ['discard-secondary'],
  });
  assert.equal(optionInt(data.disk, 'resync-rate', 0), 20 * 1024);
  assert.equal(optionString(data.disk, 'on-io-error', ''), 'detach');
  assert.equal(optionInt(data.startup, 'wfc-timeout', 0), 30);
  assert.equal(optionString(data.handlers, 'split-brain', ''), '/usr/lib/drbd/notify-split-brain.sh root');
  // common itself is unchanged by the override
  assert.equal(optionInt(cfg.common.net, 'timeout', 0), 50);
  const [a] = volumesFor(data, 'alice');
  const [b] = volumesFor(data, 'bob');
  assert.deepEqual([a!.device, a!.minor, a!.disk, a!.metaDisk], ['/dev/drbd1', 1, '/dev/vg0/data', { kind: 'external', path: '/dev/vg0/meta', index: 0 }]);
  assert.deepEqual([b!.device, b!.disk], ['/dev/drbd1', '/dev/vg1/data']); // host-level disk wins
  const web = findResource(cfg, 'web');
  assert.equal(web.protocol, 'A'); // 8.4 shorthand beats common's net protocol
  assert.equal(volumesFor(web, 'bob')[0]!.minor, 2);
});

test('8.3 syncer{} keys move to disk/net; outdate-peer means fence-peer', () => {
  const cfg = loadDrbdConfig(fixture('syncer-8.3.conf'));
  const r = findResource(cfg, 'legacy');
  assert.equal(optionInt(r.disk, 'resync-rate', 0), 30 * 1024); // resource syncer overrides common
  assert.equal(optionInt(r.disk, 'al-extents', 0), 3389);
  assert.equal(optionString(r.net, 'csums-alg', ''), 'md5');
  assert.equal(optionString(r.net, 'verify-alg', ''), 'sha1');
  assert.equal(optionString(r.handlers, 'fence-peer', ''), '/usr/lib/drbd/crm-fence-peer.sh');
  assert.equal(optionBool(r.disk, 'disk-flushes', true), false);
});

test('DRBD 9: node-id, resource-level volumes, diskless host, connection-mesh', () => {
  const r = findResource(loadDrbdConfig(fixture('drbd9-mesh.res')), 'r1');
  assert.deepEqual(r.connectionMesh, ['alpha', 'beta', 'gamma']);
  assert.equal(optionInt(r.connectionMeshNet!, 'timeout', 0), 90);
  assert.deepEqual(r.hosts.map((h) => h.nodeId), [0, 1, 2]);
  const gamma = volumesFor(r, 'gamma');
  assert.deepEqual(gamma.map((v) => [v.volume, v.minor, v.disk]), [[0, 10, '/dev/vg/r1a'], [1, 11, null]]);
  assert.equal(optionString(r.options, 'quorum', ''), 'majority');
});

test('includes: globs relative to the including file, sorted, no-match ignored, files read once, nesting limit', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drbd-conf-'));
  try {
    fs.mkdirSync(path.join(dir, 'drbd.d'));
    fs.writeFileSync(path.join(dir, 'drbd.conf'),
      'include "drbd.d/global_common.conf";\ninclude "drbd.d/*.res";\ninclude "none.d/*.res";\ninclude "drbd.d/[ab].res";\n');
    fs.writeFileSync(path.join(dir, 'drbd.d', 'global_common.conf'), 'global { usage-count no; }\ncommon { net { protocol A; } }\n');
    fs.writeFileSync(path.join(dir, 'drbd.d', 'b.res'), 'resource b { device minor 2; disk /dev/b; on x { } }\n');
    fs.writeFileSync(path.join(dir, 'drbd.d', 'a.res'), 'resource a { device minor 1; disk /dev/a; on x { } }\ninclude "../drbd.conf";\n');
    fs.writeFileSync(path.join(dir, 'drbd.d', 'skip.txt'), 'not a config');
    const cfg = loadDrbdConfig(path.join(dir, 'drbd.conf'));
    assert.deepEqual(cfg.resources.map((r) => [r.name, r.protocol]), [['a', 'A'], ['b', 'A']]);
    assert.deepEqual(cfg.files.map((f) => path.relative(dir, f)), ['drbd.conf', 'drbd.d/global_common.conf', 'drbd.d/a.res', 'drbd.d/b.res']);

    // A literal include that does not exist is an error at the file name.
    fs.writeFileSync(path.join(dir, 'missing.conf'), 'global { }\n  include "drbd.d/nope.conf";\n');
    assert.throws(() => loadDrbdConfig(path.join(dir, 'missing.conf')), (e: unknown) => {
      assert.ok(e instanceof DrbdConfigError);
      assert.equal(e.code, 'DRBD_CONF_INCLUDE');
      assert.deepEqual([e.line, e.column], [2, 11]);
      assert.match(e.message, /nope\.conf/);
      return true;
    });

    // Each file includes the next: more than 10 levels is refused.
    for (let i = 0; i < 12; i++) fs.writeFileSync(path.join(dir, `n${i}.conf`), `include "n${i + 1}.conf";\n`);
    fs.writeFileSync(path.join(dir, 'n12.conf'), '');
    assert.throws(() => loadDrbdConfig(path.join(dir, 'n0.conf')), { code: 'DRBD_CONF_INCLUDE', line: 1, column: 9 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('includes through injected adapters (no file system)', () => {
  const files: Record<string, string> = { 'etc/drbd.d/r.res': 'resource r { device minor 3; disk /dev/r; on h { } }' };
  const cfg = parseDrbdConfig('include "drbd.d/*.res";', 'etc/drbd.conf', {
    readFile: (p) => {
      const t = files[p];
      if (t === undefined) throw new Error(`ENOENT: ${p}`);
      return t;
    },
    glob: (pattern, base) => Object.keys(files).filter((f) => f.startsWith(base) && f.endsWith('.res') && pattern.endsWith('*.res')),
  });
  assert.deepEqual(cfg.files, ['etc/drbd.conf', 'etc/drbd.d/r.res']);
  assert.equal(volumesFor(cfg.resources[0]!, 'h')[0]!.minor, 3);
  assert.throws(() => parseDrbdConfig('include "x.conf";', 'a.conf'), { code: 'DRBD_CONF_INCLUDE', line: 1, column: 9 });
});

test('lookups name what exists when they fail', () => {
  const cfg = loadDrbdConfig(fixture('common-inheritance.conf'));
  assert.throws(() => findResource(cfg, 'r9'), /no resource named 'r9'; known resources: data, web/);
  assert.throws(() => hostFor(findResource(cfg, 'data'), 'carol'),
    (e: unknown) => e instanceof DrbdConfigError && /has no 'on carol' section; it has: on alice, on bob/.test(e.message) && e.line === 10);
});

test('address forms, meta-disk forms, device forms', () => {
  const r = parseDrbdConfig(`resource r {
    on a { device /dev/drbd_web minor 4; disk /dev/x; meta-disk /dev/m[3]; address ipv6 [fe80::1%eth0]:7789; }
    on b { device drbd4; disk none; flexible-meta-disk /dev/m2; address sdp 10.0.0.2:7789; }
    on c d { device /dev/drbd4 minor 4; disk /dev/x; meta-disk /dev/m [ 2 ]; }
  }`, 'a.conf').resources[0]!;
  const [a, b, c] = r.hosts;
  assert.deepEqual(a!.address, { family: 'ipv6', host: 'fe80::1%eth0', port: 7789 });
  assert.deepEqual([a!.volumes[0]!.device, a!.volumes[0]!.minor, a!.volumes[0]!.metaDisk], ['/dev/drbd_web', 4, { kind: 'external', path: '/dev/m', index: 3 }]);
  assert.deepEqual(b!.address, { family: 'sdp', host: '10.0.0.2', port: 7789 });
  assert.deepEqual([b!.volumes[0]!.device, b!.volumes[0]!.disk, b!.volumes[0]!.metaDisk], ['/dev/drbd4', null, { kind: 'external', path: '/dev/m2', index: null }]);
  assert.deepEqual(c!.names, ['c', 'd']);
  assert.deepEqual(c!.volumes[0]!.metaDisk, { kind: 'external', path: '/dev/m', index: 2 });
  assert.equal(hostFor(r, 'd'), c);
});

test('connection sections are read loosely; skip blocks and module-version guards are ignored', () => {
  const cfg = parseDrbdConfig(`require-drbd-module-version-ge 9.0.0;
    skip anything { goes { here; } "even strings" }
    resource r {
      on a { node-id 0; }
      on b { node-id 1; }
      connection { host a address 10.0.0.1:7000 port 7000; host b; path { host a address 10.0.0.1:7001; host b address 10.0.0.2:7001; } net { protocol A; } }
    }`, 'c.conf');
  const r = cfg.resources[0]!;
  assert.deepEqual(r.connections!.map((c) => c.hosts), [['a', 'b']]);
  assert.equal(optionString(r.connections![0]!.net, 'protocol', ''), 'A');
});
