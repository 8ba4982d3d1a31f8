// The corosync.conf grammar and the parser-time value checks. Expected messages and line
// numbers are the ones corosync 3.1.7 prints for the same input (`corosync -t -c FILE`),
// except where a comment says newer corosync; the differential test re-checks them live.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CorosyncConfigError, parseCorosyncConf, type CorosyncTree } from '../../src/config/corosync/index.js';

const values = (tree: CorosyncTree): Record<string, string> => Object.fromEntries([...tree.entries.values()].map((e) => [e.key, e.value]));
const lines = (tree: CorosyncTree): Record<string, number> => Object.fromEntries([...tree.entries.values()].map((e) => [e.key, e.line]));

function refusal(text: string): CorosyncConfigError {
  try {
    parseCorosyncConf(text, 'c.conf');
  } catch (e) {
    assert.ok(e instanceof CorosyncConfigError, `not a CorosyncConfigError: ${String(e)}`);
    return e;
  }
  assert.fail(`accepted:\n${text}`);
}

function refuses(text: string, line: number, detail: string): void {
  const e = refusal(text);
  assert.equal(e.message, `parser error: c.conf:${line}: ${detail}`);
  assert.equal(e.line, line);
  assert.equal(e.detail, detail);
  assert.equal(e.fromParser, true);
}

test('sections nest into dotted keys; each key keeps its line', () => {
  const t = parseCorosyncConf('totem {\n  version: 2\n  cluster_name: lab\n}\nlocal {\n  a {\n    b: c\n  }\n}\n', 'c.conf');
  assert.deepEqual(values(t), { 'totem.version': '2', 'totem.cluster_name': 'lab', 'local.a.b': 'c' });
  assert.deepEqual(lines(t), { 'totem.version': 2, 'totem.cluster_name': 3, 'local.a.b': 7 });
  assert.deepEqual(
    t.sections.map((s) => [s.path, s.line, s.endLine]),
    [['totem', 1, 4], ['local', 5, 9], ['local.a', 6, 8]],
  );
});

test('a value is split at the first colon and trimmed; # is a comment only at the start of a line', () => {
  const t = parseCorosyncConf(
    ['# comment', '   # indented comment', '\t#tab comment', 'x {', '  addr:  fd00::1  ', '  note:a # not a comment', 'key:: v', '}'].join('\n'),
    'c.conf',
  );
  assert.deepEqual(values(t), { 'x.addr': 'fd00::1', 'x.note': 'a # not a comment', 'x.key': ': v' });
});

test('blanks are space, tab and no-break space; one trailing CR is dropped; the last line needs no newline', () => {
  const t = parseCorosyncConf('x {\r\n\u00a0\tkey\u00a0:\u00a0value\u00a0\r\n} ', 'c.conf');
  assert.deepEqual(values(t), { 'x.key': 'value' });
  const cr = parseCorosyncConf('x {\n  key: v\r\r\n}\n', 'c.conf');
  assert.deepEqual(values(cr), { 'x.key': 'v\r' }, 'only one CR is removed, as corosync does');
});

test('a repeated key keeps the last value and its line', () => {
  const t = parseCorosyncConf('totem {\n  token: 1\n  token: 2\n}\ntotem {\n  token: 3\n}\n', 'c.conf');
  assert.deepEqual(values(t), { 'totem.token': '3' });
  assert.deepEqual(lines(t), { 'totem.token': 6 });
});

test('corosync quirks: "name: {" opens section "name", "a:{" too; "{" wins over ":" in a line', () => {
  assert.deepEqual(values(parseCorosyncConf('totem: {\n  version: 2\n}\n', 'c.conf')), { 'totem.version': '2' });
  assert.deepEqual(values(parseCorosyncConf('abc:{\n  k1: v\n}\n', 'c.conf')), { 'abc.k1': 'v' });
  assert.deepEqual(parseCorosyncConf('key: a {\n}\n', 'c.conf').sections.map((s) => s.path), ['key: a']);
});

test('nodes are numbered in file order: nodelist.node.<n>.<key>', () => {
  const t = parseCorosyncConf(
    'nodelist {\n node {\n  ring0_addr: a1\n  nodeid: 1\n }\n node {\n  nodeid: 2\n  extra {\n   k: v\n  }\n }\n}\n',
    'c.conf',
  );
  assert.deepEqual(values(t), {
    'nodelist.node.0.ring0_addr': 'a1',
    'nodelist.node.0.nodeid': '1',
    'nodelist.node.1.nodeid': '2',
    'nodelist.node.1.k': 'v', // as corosync 3.1.7 files keys of a node's subsections
  });
  assert.deepEqual(
    t.sections.filter((s) => s.path === 'nodelist.node').map((s) => [s.cmapPrefix, s.line]),
    [['nodelist.node.0', 2], ['nodelist.node.1', 6]],
  );
});

test('interface keys are filed under their linknumber when the section closes; other keys stay where written', () => {
  const t = parseCorosyncConf(
    'totem {\n interface {\n  mcastport: 6000\n  linknumber: 1\n  foo: bar\n  member {\n   memberaddr: m1\n  }\n  member {\n   memberaddr: m2\n  }\n }\n interface {\n  ttl: 2\n }\n}\n',
    'c.conf',
  );
  assert.deepEqual(values(t), {
    'totem.interface.foo': 'bar',
    'totem.interface.1.mcastport': '6000',
    // corosync prepends members to a list, so the last one written is member.0.
    'totem.interface.1.member.0': 'm2',
    'totem.interface.1.member.1': 'm1',
    'totem.interface.0.ttl': '2',
  });
  assert.equal(lines(t)['totem.interface.1.mcastport'], 3);
  assert.deepEqual(t.sections.filter((s) => s.path === 'totem.interface').map((s) => s.cmapPrefix), ['totem.interface.1', 'totem.interface.0']);
});

test('logger_subsys keys are filed under their subsys; logging_daemon under its name', () => {
  const t = parseCorosyncConf(
    'logging {\n logger_subsys {\n  debug: on\n  subsys: QUORUM\n }\n logging_daemon {\n  name: corosync\n  subsys: KNET\n  debug: off\n }\n logging_daemon {\n  name: other\n  to_stderr: yes\n }\n}\n',
    'c.conf',
  );
  assert.deepEqual(values(t), {
    'logging.logger_subsys.QUORUM.debug': 'on',
    'logging.logger_subsys.QUORUM.subsys': 'QUORUM',
    'logging.logger_subsys.KNET.debug': 'off',
    'logging.logger_subsys.KNET.subsys': 'KNET',
    'logging.logging_daemon.other.to_stderr': 'yes',
    'logging.logging_daemon.other.name': 'other',
  });
});

test('integer keys follow strtoll: sign and leading zeros are fine, the stored value is normalised', () => {
  const t = parseCorosyncConf('totem {\n version: +2\n window_size: 010\n knet_compression_level: -5\n token: -0\n}\nquorum {\n two_node: 255\n}\n', 'c.conf');
  assert.deepEqual(values(t), {
    'totem.version': '2',
    'totem.window_size': '10',
    'totem.knet_compression_level': '-5',
    'totem.token': '0',
    'quorum.two_node': '255',
  });
  const u64 = parseCorosyncConf('totem {\n config_version: 18446744073709551615\n}\ntotem {\n config_version: -1\n}\n', 'c.conf');
  assert.equal(values(u64)['totem.config_version'], '18446744073709551615', 'strtoull wraps -1 around');
});

test('unknown keys and sections are kept as strings', () => {
  const t = parseCorosyncConf('nozzle {\n name: nz0\n}\ntotem {\n made_up_key: some value\n}\n', 'c.conf');
  assert.deepEqual(values(t), { 'nozzle.name': 'nz0', 'totem.made_up_key': 'some value' });
});

test('grammar errors, with corosync 3.1.7 wording and line', () => {
  refuses('totem {\n version: 2\n', 2, 'Missing closing brace');
  refuses('totem {\n}\n}\n', 3, 'Unexpected closing brace');
  refuses('totem { version: 2\n}\n', 1, "Extra characters after opening bracket '{'");
  refuses('totem {{\n}\n', 1, "Extra characters after opening bracket '{'");
  refuses('totem {\n}}\n', 2, "Extra characters before or after closing bracket '}'");
  refuses('totem {\n} x\n', 2, "Extra characters before or after closing bracket '}'");
  refuses('totem {\n version 2\n}\n', 2, 'Line is not opening or closing section or key value');
  refuses('\n{\n}\n', 2, "Missing section name before opening bracket '{'");
  refuses('totem {\n note: a{b}\n}\n', 2, "Extra characters after opening bracket '{'");
  refuses(':\n', 1, "Key name can't be empty"); // newer corosync; 3.1.7 says it cannot store key ""
});

test('line length: 510 bytes pass, 511 bytes are "Line too long", counted in UTF-8 bytes', () => {
  const line = (bytes: number): string => `k: ${'x'.repeat(bytes - 3)}`;
  assert.doesNotThrow(() => parseCorosyncConf(`abc {\n${line(510)}\n}\n`, 'c.conf'));
  refuses(`abc {\n${line(511)}\n}\n`, 2, 'Line too long');
  refuses(`abc {\n${line(511)}`, 2, 'Line too long');
  // 254 two-byte characters plus "k: " is 511 bytes but only 257 characters.
  refuses(`abc {\nk: ${'é'.repeat(254)}\n}\n`, 2, 'Line too long');
});

test('cmap path limits: a key or section whose dotted path would reach 255 bytes is refused', () => {
  const long = 'k'.repeat(251);
  assert.doesNotThrow(() => parseCorosyncConf(`abc {\n${long.slice(1)}: v\n}\n`, 'c.conf'));
  refuses(`abc {\n${long}: v\n}\n`, 2, 'New key makes total cmap path too long');
  refuses(`abc {\n${long} {\n}\n}\n`, 2, 'Start of section makes total cmap path too long');
});

test('key names must suit cmap: 3 to 255 characters of [a-zA-Z0-9._/:-]', () => {
  refuses('ab: x\n', 1, `Can't store key "ab" into icmap, returned error is CS_ERR_NAME_TOO_LONG`);
  refuses('totem {\n token timeout: 1\n}\n', 2, `Can't store key "totem.token timeout" into icmap, returned error is CS_ERR_NAME_TOO_LONG`);
  refuses('totem {\n tökén: 1\n}\n', 2, `Can't store key "totem.tökén" into icmap, returned error is CS_ERR_NAME_TOO_LONG`);
  assert.doesNotThrow(() => parseCorosyncConf('abc: x\na/b:c: y\n', 'c.conf'));
});

test('typed keys: integer ranges per C type, with the key as corosync names it', () => {
  const range = (key: string, lo: string, hi: string, v: string): string =>
    `Value of key "${key}" is expected to be integer in range (${lo}..${hi}), but "${v}" was given`;
  refuses('totem {\n token: abc\n}\n', 2, range('totem.token', '0', '4294967295', 'abc'));
  refuses('totem {\n token: 4294967296\n}\n', 2, range('totem.token', '0', '4294967295', '4294967296'));
  refuses('totem {\n token: -1\n}\n', 2, range('totem.token', '0', '4294967295', '-1'));
  refuses('totem {\n token: 0x10\n}\n', 2, range('totem.token', '0', '4294967295', '0x10'));
  refuses('totem {\n token:\n}\n', 2, range('totem.token', '0', '4294967295', ''));
  refuses('totem {\n token: 1000 # ms\n}\n', 2, range('totem.token', '0', '4294967295', '1000 # ms'));
  refuses('totem {\n knet_compression_level: x\n}\n', 2, range('totem.knet_compression_level', '-2147483648', '2147483647', 'x'));
  refuses('quorum {\n two_node: 256\n}\n', 2, range('quorum.two_node', '0', '255', '256'));
  refuses('quorum {\n wait_for_all: yes\n}\n', 2, range('quorum.wait_for_all', '0', '255', 'yes'));
  refuses('quorum {\n last_man_standing_window: x\n}\n', 2, range('quorum.last_man_standing_window', '0', '4294967295', 'x'));
  refuses('quorum {\n device {\n  votes: x\n }\n}\n', 3, range('quorum.device.votes', '0', '4294967295', 'x'));
  refuses('nodelist {\n node {\n  nodeid: 1\n }\n node {\n  nodeid: x\n }\n}\n', 6, range('nodelist.node.1.nodeid', '0', '4294967295', 'x'));
  refuses('totem {\n interface {\n  mcastport: 70000\n }\n}\n', 3, range('totem.interface.mcastport', '0', '65535', '70000'));
  refuses('totem {\n interface {\n  linknumber: 256\n }\n}\n', 3, range('totem.interface.linknumber', '0', '255', '256'));
  refuses('resources {\n foo {\n  watchdog_timeout: x\n }\n}\n', 3, range('resources.foo.watchdog_timeout', '0', '4294967295', 'x'));
  // 3.1.7 aborts on a bad 64-bit value; newer corosync prints this.
  refuses('totem {\n config_version: 18446744073709551616\n}\n', 2, 'Value of key "totem.config_version" is expected to be unsigned integer, but "18446744073709551616" was given');
});

test('enumerations corosync checks while reading', () => {
  refuses('totem {\n crypto_cipher: 3des\n}\n', 2, 'Invalid cipher type. Should be none, aes256, aes192 or aes128');
  refuses('totem {\n crypto_hash: sha3\n}\n', 2, 'Invalid hash type. Should be none, md5, sha1, sha256, sha384 or sha512');
  refuses('totem {\n crypto_model: gcrypt\n}\n', 2, 'Invalid crypto model. Should be nss or openssl');
  refuses('totem {\n ip_version: ipv5\n}\n', 2, 'Invalid ip_version type');
  refuses('totem {\n knet_compression_model: none\n}\n', 2, 'Invalid compression model. Should be zlib, lz4, lz4hc, lzo2, lzma, bzip2 or zstd');
  refuses('system {\n qb_ipc_type: pipe\n}\n', 2, 'Invalid system.qb_ipc_type');
  refuses('system {\n sched_rr: maybe\n}\n', 2, 'Invalid system.sched_rr value');
  refuses('system {\n move_to_root_cgroup: maybe\n}\n', 2, 'Invalid system.move_to_root_cgroup');
  refuses('system {\n allow_knet_handle_fallback: maybe\n}\n', 2, 'Invalid system.allow_knet_handle_fallback');
});

test('special sections: logger_subsys needs subsys, logging_daemon needs name, member and uidgid take fixed keys', () => {
  refuses('logging {\n logger_subsys {\n  debug: on\n }\n}\n', 4, 'No subsys key in logger_subsys directive');
  refuses('logging {\n logging_daemon {\n  subsys: X\n }\n}\n', 4, 'No name key in logging_daemon directive');
  refuses('totem {\n interface {\n  member {\n   foo: bar\n  }\n }\n}\n', 4, 'Only memberaddr is allowed in member section');
  refuses('uidgid {\n foo: 1\n}\n', 2, 'uidgid: Only uid and gid are allowed items');
  refuses('logging {\n logger_subsys {\n  subsys: Q\n  Q {\n  }\n }\n}\n', 4, 'Subsections are not allowed within logging.logger_subsys section');
  refuses('logging {\n logger_subsys {\n  subsys: A B\n }\n}\n', 4, `Can't store key "logging.logger_subsys.A B.subsys" into icmap, returned error is CS_ERR_NAME_TOO_LONG`);
});

test('a NUL character is refused with its line', () => {
  const e = refusal('totem {\n ver\0sion: 2\n}\n');
  assert.equal(e.line, 2);
  assert.match(e.message, /^parser error: c\.conf:2: Line contains a NUL character/);
});

test('an empty file and a file of comments parse to an empty tree', () => {
  for (const text of ['', '\n\n', '# only\n  # comments\n']) {
    const t = parseCorosyncConf(text, 'c.conf');
    assert.equal(t.entries.size, 0);
    assert.equal(t.sections.length, 0);
  }
});
