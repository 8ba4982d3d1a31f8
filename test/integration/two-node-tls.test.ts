// DRBD 9.2's `net { tls yes; }` between two daemons (alpha 127.0.0.1, bravo 127.0.0.2): the
// certificates come from tlshd.conf as they do for DRBD, the replication link runs over TLS
// with mutual certificates, a peer whose certificate no trusted CA signed never connects, and a
// resource whose certificates cannot be found refuses `up` saying which file and key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { haveTool, isRoot, tempDir } from '../helpers/node-daemon.js';
import { TwoNodes, waitFor } from '../helpers/two-node.js';
import { parseTlshdConf, tlsFilesFor } from '../../src/config/tlshd/parse.js';

const tools = ['nbdfuse', 'losetup', 'openssl'];
const missing = tools.filter((t) => !haveTool(t));
const skip = !isRoot() ? 'needs root (loop devices for the daemons)' : missing.length > 0 ? `needs ${missing.join(', ')}` : false;
const MiB = 1024 * 1024;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA, and a certificate it signed for each name (EC P-256, valid two days). */
function makePki(dir: string, names: string[]): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${dir}/ca.key`, '-out', `${dir}/ca.crt`, '-days', '2', '-subj', '/CN=safeside test CA']);
  for (const n of names) {
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${dir}/${n}.key`, '-out', `${dir}/${n}.csr`, '-subj', `/CN=${n}`]);
    openssl(['x509', '-req', '-in', `${dir}/${n}.csr`, '-CA', `${dir}/ca.crt`, '-CAkey', `${dir}/ca.key`, '-CAcreateserial', '-out', `${dir}/${n}.crt`, '-days', '2']);
  }
}

function tlshdConf(dir: string, name: string, cert = name): string {
  const file = path.join(dir, `tlshd-${name}.conf`);
  fs.writeFileSync(file, [
    '# as for tlshd (ktls-utils)',
    '[main]', 'debug=0', '',
    '[authenticate.client]', `x509.truststore= ${dir}/ca.crt`, `x509.certificate= ${dir}/${cert}.crt`, `x509.private_key= ${dir}/${cert}.key`, '',
    '[authenticate.server]', `x509.truststore= ${dir}/ca.crt`, `x509.certificate= ${dir}/${cert}.crt`, `x509.private_key= ${dir}/${cert}.key`, '',
  ].join('\n'));
  return file;
}

test('tlshd.conf: sections, keys and line numbers; a missing key is named', () => {
  const conf = parseTlshdConf('[main]\ndebug=0\n\n[authenticate.client]\nx509.truststore = /a/ca.pem\nx509.certificate=/a/c.pem\nx509.private_key=/a/k.pem\n', '/etc/tlshd.conf');
  const files = tlsFilesFor(conf, 'r0');
  assert.deepEqual([files.truststore.value, files.certificate.value, files.privateKey.value, files.truststore.line], ['/a/ca.pem', '/a/c.pem', '/a/k.pem', 5]);
  assert.throws(() => tlsFilesFor(parseTlshdConf('[authenticate.server]\nx509.certificate=/c\n', 't.conf'), 'r0'), /t\.conf: resource r0 has 'tls yes', but neither \[authenticate.server\] nor \[authenticate.client\] sets x509.private_key/);
  assert.throws(() => parseTlshdConf('[main]\nnonsense\n', 't.conf'), /t\.conf:2: expected "key = value"/);
  assert.throws(() => parseTlshdConf('x509.certificate=/c\n', 't.conf'), /t\.conf:1: "x509.certificate" is outside any \[section\]/);
});

test('net { tls yes; }: the initial sync runs over TLS; a peer outside the CA never connects', { skip, timeout: 120_000 }, async () => {
  const pki = tempDir('tls-pki');
  try {
    makePki(pki, ['alpha', 'bravo']);
    // mallory: a self-signed certificate with bravo's name.
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${pki}/mallory.key`, '-out', `${pki}/mallory.crt`, '-days', '2', '-subj', '/CN=bravo']);

    const t = await TwoNodes.create({
      prefix: 'tls', sizeBytes: 32 * MiB, net: '    tls yes;\n',
      daemonArgs: { alpha: ['--tlshd-conf', tlshdConf(pki, 'alpha')], bravo: ['--tlshd-conf', tlshdConf(pki, 'bravo')] },
    });
    try {
      await t.initialSync('alpha', 45_000);
      for (const n of ['alpha', 'bravo'] as const) assert.match(t.log(n), /connected \(protocol \d+, authenticated with sha1, tls\)/, `${n} log`);
      assert.ok(t.status('bravo').peer.received > 0);
    } finally {
      await t.cleanup();
    }

    const m = await TwoNodes.create({
      prefix: 'tls-bad', sizeBytes: 32 * MiB, net: '    tls yes;\n',
      daemonArgs: { alpha: ['--tlshd-conf', tlshdConf(pki, 'alpha')], bravo: ['--tlshd-conf', tlshdConf(pki, 'mallory-as-bravo', 'mallory')] },
    });
    try {
      for (const n of ['alpha', 'bravo'] as const) m.must(n, ['create-md', 'r0']);
      for (const n of ['alpha', 'bravo'] as const) m.must(n, ['up', 'r0']);
      m.must('alpha', ['primary', '--force', 'r0']);
      await waitFor('alpha to refuse the untrusted certificate', () => /certificate/i.test(m.log('alpha')), 20_000);
      await sleep(2500); // several connect attempts (connect-int 1)
      for (const n of ['alpha', 'bravo'] as const) {
        const s = m.status(n);
        assert.notEqual(s.connectionState, 'Connected', `${n} must not connect`);
        assert.equal(s.peer.received, 0, `${n} received data`);
      }
    } finally {
      await m.cleanup();
    }
  } finally {
    fs.rmSync(pki, { recursive: true, force: true });
  }
});

test('net { tls yes; } without tlshd.conf: up fails and names the file', { skip, timeout: 60_000 }, async () => {
  const t = await TwoNodes.create({
    prefix: 'tls-none', sizeBytes: 16 * MiB, net: '    tls yes;\n',
    daemonArgs: { alpha: ['--tlshd-conf', '/nonexistent/tlshd.conf'] },
  });
  try {
    t.must('alpha', ['create-md', 'r0']);
    const r = t.cli('alpha', ['up', 'r0']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /\/nonexistent\/tlshd\.conf: resource r0 has 'tls yes', but the certificates cannot be found: ENOENT/);
    assert.equal(t.cli('alpha', ['up', 'r0']).code !== 0, true, 'still refused, nothing half set up');
  } finally {
    await t.cleanup();
  }
});
