// Runs a real `safeside daemon` process for integration tests and drives it through
// the real CLI. Every process started here is stopped by pid in stop().

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const cliMain = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const readyTimeoutMs = 15_000;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(stateDir: string, args: string[], timeoutMs = 120_000): CliResult {
  const r = spawnSync(process.execPath, [cliMain, '--state-dir', stateDir, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): CliResult {
  const env = opts.env ? { ...process.env, ...opts.env } : process.env;
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, env });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export class NodeDaemon {
  proc: ChildProcess | null = null;
  log = '';

  constructor(
    readonly stateDir: string,
    readonly configFile: string,
    readonly nodeName: string,
    readonly extraArgs: string[] = [],
  ) {}

  async start(): Promise<void> {
    const proc = spawn(
      process.execPath,
      // Extra node flags for the daemons only, e.g. --cpu-prof (profiling a benchmark run).
      [...(process.env.SAFESIDE_DAEMON_NODE_ARGS?.split(' ').filter((a) => a !== '') ?? []), cliMain, 'daemon', '--config', this.configFile, '--node', this.nodeName, '--state-dir', this.stateDir, ...this.extraArgs],
      // The I/O thread pool bin/safeside gives an installed daemon (tests and benchmarks
      // start dist/src/cli/main.js directly).
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '16' } },
    );
    this.proc = proc;
    proc.stdout!.on('data', (c: Buffer) => (this.log += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (this.log += c.toString()));
    const deadline = Date.now() + readyTimeoutMs;
    while (!this.log.includes('safeside daemon ready')) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        throw new Error(`daemon did not become ready (exit ${proc.exitCode}):\n${this.log}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  cli(args: string[]): CliResult {
    return runCli(this.stateDir, args);
  }

  /** kill -9: no cleanup at all, like a power loss of the process. */
  async crash(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc!.once('exit', r));
    this.proc.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc!.once('exit', r));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc?.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `safeside-${prefix}-`));
}

export function sparseFile(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, bytes);
  fs.closeSync(fd);
}

export { seedConfig } from '../../src/cli/seed-config.js';

export const haveTool = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
export const isRoot = (): boolean => process.getuid?.() === 0;
