// Reads the certificate files named in tlshd.conf for a resource with `net { tls yes; }`.
import { readFile } from 'node:fs/promises';
import { parseTlshdConf, tlsFilesFor, TlshdConfigError, type TlshdValue } from '../config/tlshd/parse.js';
import type { PeerTlsConfig } from './peer/link.js';

export const DEFAULT_TLSHD_CONF = '/etc/tlshd.conf';

export async function loadPeerTls(tlshdConf: string, resource: string): Promise<PeerTlsConfig> {
  let text: string;
  try {
    text = await readFile(tlshdConf, 'utf8');
  } catch (err) {
    throw new TlshdConfigError(tlshdConf, 0, `resource ${resource} has 'tls yes', but the certificates cannot be found: ${(err as Error).message}`);
  }
  const files = tlsFilesFor(parseTlshdConf(text, tlshdConf), resource);
  const read = async (key: string, v: TlshdValue): Promise<Buffer> => {
    try {
      return await readFile(v.value);
    } catch (err) {
      throw new TlshdConfigError(tlshdConf, v.line, `${key} ${v.value}: ${(err as Error).message}`);
    }
  };
  return {
    cert: await read('x509.certificate', files.certificate),
    key: await read('x509.private_key', files.privateKey),
    ca: await read('x509.truststore', files.truststore),
  };
}
