// The control socket between `safeside VERB` and the daemon: one JSON request per
// connection, one JSON reply, newline-terminated. The socket lives in the state dir,
// which is created 0700, and the socket itself is 0600: only its owner (root) may talk.

import net from 'node:net';
import fs from 'node:fs';

export interface ControlRequest {
  verb: string;
  args: string[];
  options: Record<string, string | boolean>;
}

export interface ControlReply {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type ControlHandler = (req: ControlRequest) => Promise<ControlReply>;

const requestBytesMax = 64 * 1024;
const replyTimeoutMs = 10 * 60 * 1000;

export class ControlError extends Error {
  constructor(
    readonly code: 'CONTROL_NO_DAEMON' | 'CONTROL_PROTOCOL' | 'CONTROL_TIMEOUT',
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

export async function listenControl(
  path: string,
  handler: ControlHandler,
  log: (msg: string) => void,
): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let buffered = '';
    let answered = false;
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      if (answered) return;
      buffered += chunk;
      if (buffered.length > requestBytesMax) {
        answered = true;
        socket.end(JSON.stringify({ exitCode: 1, stdout: '', stderr: 'control request too large\n' }) + '\n');
        return;
      }
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      answered = true;
      let req: ControlRequest;
      try {
        req = parseRequest(buffered.slice(0, nl));
      } catch (err) {
        socket.end(JSON.stringify({ exitCode: 1, stdout: '', stderr: `${(err as Error).message}\n` }) + '\n');
        return;
      }
      handler(req)
        .catch((err: unknown): ControlReply => {
          log(`control: ${req.verb} failed: ${(err as Error).stack ?? String(err)}`);
          return { exitCode: 20, stdout: '', stderr: `${(err as Error).message}\n` };
        })
        .then((reply) => {
          if (!socket.destroyed) socket.end(JSON.stringify(reply) + '\n');
        });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  fs.chmodSync(path, 0o600);
  return server;
}

function parseRequest(line: string): ControlRequest {
  const v = JSON.parse(line) as Partial<ControlRequest>;
  if (typeof v !== 'object' || v === null || typeof v.verb !== 'string' || !Array.isArray(v.args)) {
    throw new ControlError('CONTROL_PROTOCOL', 'malformed control request: expected {verb, args, options}');
  }
  return { verb: v.verb, args: v.args.map(String), options: v.options ?? {} };
}

export function callControl(path: string, req: ControlRequest): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path);
    let buffered = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ControlError('CONTROL_TIMEOUT', `no reply from the daemon on ${path} within ${replyTimeoutMs / 1000} s`));
    }, replyTimeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(req) + '\n'));
    socket.on('data', (c: string) => (buffered += c));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(
          new ControlError(
            'CONTROL_NO_DAEMON',
            `no safeside daemon is running for state dir ${pathDir(path)} (${err.code} on ${path}); start one with 'safeside daemon --config FILE --state-dir ${pathDir(path)}'`,
          ),
        );
      } else reject(err);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buffered) as ControlReply);
      } catch {
        reject(new ControlError('CONTROL_PROTOCOL', `malformed reply from the daemon on ${path}`));
      }
    });
  });
}

function pathDir(p: string): string {
  const i = p.lastIndexOf('/');
  return i > 0 ? p.slice(0, i) : '.';
}
