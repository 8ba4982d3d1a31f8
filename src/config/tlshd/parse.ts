// /etc/tlshd.conf (ktls-utils): where DRBD 9.2's `net { tls yes; }` gets its certificates.
// The kernel hands the TLS handshake to tlshd, which reads its keys from this file; safeside
// reads the same file, so a DRBD setup with TLS needs no other configuration.
// Format: "[section]" headers, "key = value" lines, "#" or ";" comments.

export class TlshdConfigError extends Error {
  /** line 0: about the file as a whole. */
  constructor(readonly file: string, readonly line: number, message: string) {
    super(line > 0 ? `${file}:${line}: ${message}` : `${file}: ${message}`);
    this.name = 'TlshdConfigError';
  }
}

export interface TlshdValue { readonly value: string; readonly line: number }

export interface TlshdConf {
  readonly file: string;
  readonly sections: ReadonlyMap<string, ReadonlyMap<string, TlshdValue>>;
}

export function parseTlshdConf(text: string, file: string): TlshdConf {
  const sections = new Map<string, Map<string, TlshdValue>>();
  let current: Map<string, TlshdValue> | null = null;
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const s = raw.trim();
    if (s === '' || s.startsWith('#') || s.startsWith(';')) return;
    const header = /^\[([^\]]+)\]$/.exec(s);
    if (header) {
      const name = header[1]!.trim();
      current = sections.get(name) ?? new Map();
      sections.set(name, current);
      return;
    }
    const eq = s.indexOf('=');
    if (eq <= 0) throw new TlshdConfigError(file, line, `expected "key = value" or "[section]", found ${JSON.stringify(s)}`);
    if (current === null) throw new TlshdConfigError(file, line, `"${s.slice(0, eq).trim()}" is outside any [section]`);
    (current as Map<string, TlshdValue>).set(s.slice(0, eq).trim(), { value: s.slice(eq + 1).trim(), line });
  });
  return { file, sections };
}

/** The PEM files a TLS peer link uses: this node's certificate and key, and the CAs its peers' certificates must chain to. */
export interface TlsFiles {
  readonly certificate: TlshdValue;
  readonly privateKey: TlshdValue;
  readonly truststore: TlshdValue;
}

/**
 * One certificate serves both directions of a peer link, as tlshd's server and client
 * sections usually name the same one: [authenticate.server] is taken first, then
 * [authenticate.client] for what it lacks.
 */
export function tlsFilesFor(conf: TlshdConf, resource: string): TlsFiles {
  const server = conf.sections.get('authenticate.server');
  const client = conf.sections.get('authenticate.client');
  const pick = (key: string): TlshdValue => {
    const v = server?.get(key) ?? client?.get(key);
    if (v === undefined || v.value === '') {
      throw new TlshdConfigError(conf.file, 0,
        `resource ${resource} has 'tls yes', but neither [authenticate.server] nor [authenticate.client] sets ${key}`);
    }
    return v;
  };
  return { certificate: pick('x509.certificate'), privateKey: pick('x509.private_key'), truststore: pick('x509.truststore') };
}
