// Serve one file over NBD on a Unix socket (used by bench/nbd-fio.ts, also handy by hand):
//   node dist/bench/nbd-serve.js --file FILE --socket PATH [--name NAME] [--read-only] [--inline-io BYTES]
// Prints "ready" on stdout once listening; exits cleanly on SIGTERM/SIGINT.

import { NbdServer } from '../src/runtime/nbd/server.js';
import { FileBlockExport } from '../src/runtime/nbd/file-export.js';
import { StaticExportDirectory } from '../src/runtime/nbd/directory.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const file = arg('file');
  const socket = arg('socket');
  if (file === undefined || socket === undefined) {
    process.stderr.write('usage: nbd-serve --file FILE --socket PATH [--name NAME] [--read-only]\n');
    process.exit(2);
  }
  const exp = await FileBlockExport.open(file, {
    name: arg('name') ?? 'bench',
    readOnly: process.argv.includes('--read-only'),
    inlineIoBytesMax: Number(arg('inline-io') ?? '0'),
  });
  const directory = new StaticExportDirectory().add(exp, { default: true });
  const verbose = process.argv.includes('--verbose');
  const log = (level: string) => (o: object | string, m?: string) => {
    if (verbose || level !== 'info') process.stderr.write(`${level} ${typeof o === 'string' ? o : JSON.stringify(o)} ${m ?? ''}\n`);
  };
  const server = new NbdServer({ directory, logger: { info: log('info'), warn: log('warn'), error: log('error') } });
  await server.listenUnix(socket);
  const stop = (): void => {
    void server.close().then(() => exp.close()).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write('ready\n');
}

main().catch((err) => {
  process.stderr.write(`nbd-serve: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
