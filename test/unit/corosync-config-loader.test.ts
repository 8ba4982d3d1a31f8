// loadClusterConfig: reading the file, decoding it, and errors that name the path.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadClusterConfig } from '../../src/runtime/corosync-config-loader.js';
import { CorosyncConfigError } from '../../src/config/corosync/index.js';

const CONFIG = [
  'totem {',
  '    version: 2',
  '    cluster_name: lab',
  '}',
  'nodelist {',
  '    node {',
  '        ring0_addr: 10.0.0.1',
  '        nodeid: 1',
  '    }',
  '}',
  'quorum {',
  '    provider: corosync_votequorum',
  '}',
  '',
].join('\n');

function withDir(fn: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corosync-loader-'));
  try {
    fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function refusal(file: string): CorosyncConfigError {
  try {
    loadClusterConfig(file);
  } catch (e) {
    assert.ok(e instanceof CorosyncConfigError, String(e));
    return e;
  }
  assert.fail(`loaded ${file}`);
}

test('loads a file and reports it as the config file', () => {
  withDir((dir) => {
    const file = path.join(dir, 'corosync.conf');
    fs.writeFileSync(file, CONFIG);
    const c = loadClusterConfig(file);
    assert.equal(c.file, file);
    assert.deepEqual(c.nodes, [{ nodeId: 1, name: '10.0.0.1', addresses: ['10.0.0.1'], votes: 1 }]);
  });
});

test('a missing file, a directory: the error names the path', () => {
  withDir((dir) => {
    const missing = path.join(dir, 'nope.conf');
    const e = refusal(missing);
    assert.equal(e.code, 'COROSYNC_CONF_READ');
    assert.equal(e.message, `${missing}: can't read the file: No such file or directory`);
    const d = refusal(dir);
    assert.equal(d.message, `${dir}: can't read the file: Is a directory`);
  });
});

test('errors inside the file carry its path and line', () => {
  withDir((dir) => {
    const file = path.join(dir, 'bad.conf');
    fs.writeFileSync(file, CONFIG.replace('    version: 2', '    version: 2\n    token: soon'));
    assert.equal(refusal(file).message, `parser error: ${file}:3: Value of key "totem.token" is expected to be integer in range (0..4294967295), but "soon" was given`);
  });
});

test('a Latin-1 file: byte 0xA0 is a no-break space, which is white space', () => {
  withDir((dir) => {
    const file = path.join(dir, 'latin1.conf');
    const bytes = Buffer.from(CONFIG.replace('        nodeid: 1', '\u00a0       nodeid: 1\u00a0').replace('cluster_name: lab', 'cluster_name: caf\u00e9'), 'latin1');
    assert.ok(bytes.includes(0xa0) && !bytes.includes(0xc2), 'the file really is Latin-1');
    fs.writeFileSync(file, bytes);
    const c = loadClusterConfig(file);
    assert.equal(c.nodes[0]!.nodeId, 1);
    assert.equal(c.clusterName, 'café');
  });
});

test('a UTF-8 file keeps its characters', () => {
  withDir((dir) => {
    const file = path.join(dir, 'utf8.conf');
    fs.writeFileSync(file, CONFIG.replace('cluster_name: lab', 'cluster_name: grüße'), 'utf8');
    assert.equal(loadClusterConfig(file).clusterName, 'grüße');
  });
});
