// `safeside demo`: the seed article's single-node steps with safeside, in a temporary
// directory, narrated. Starts its own daemon, cleans up everything it created.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { seedConfig } from './seed-config.js';

const cliMain = fileURLToPath(new URL('./main.js', import.meta.url));
const NODE = 'demo-node';
const readyTimeoutMs = 15_000;
const backingBytes = 256 * 1024 * 1024;

const say = (text: string): void => void process.stdout.write(`\n== ${text}\n`);

export async function runDemo(opts: { keep: boolean }): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safeside-demo-'));
  const stateDir = path.join(dir, 'state');
  const disk = path.join(dir, 'sdb.img');
  const conf = path.join(dir, 'drbd.conf');
  const mnt = path.join(dir, 'srv');
  let daemon: ChildProcess | null = null;
  let mounted = false;
  let failed = false;

  const sh = (cmd: string, args: string[], expectFail = false, env?: Record<string, string>, filter?: RegExp): string => {
    process.stdout.write(`$ ${[cmd, ...args].join(' ')}\n`);
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, env: env ? { ...process.env, ...env } : process.env });
    let out = (r.stdout ?? '') + (r.stderr ?? '');
    if (filter) out = out.split('\n').filter((l) => filter.test(l)).join('\n');
    if (out) process.stdout.write(out.endsWith('\n') ? out : out + '\n');
    if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
    if ((r.status !== 0) !== expectFail) {
      throw new Error(`'${cmd} ${args.join(' ')}' ${expectFail ? 'succeeded but was expected to fail' : `exited with ${r.status}`}`);
    }
    return r.stdout ?? '';
  };
  const safeside = (args: string[], expectFail = false, quiet = false): string => {
    if (!quiet) process.stdout.write(`$ safeside ${args.join(' ')}\n`);
    const r = spawnSync(process.execPath, [cliMain, '--state-dir', stateDir, ...args], { encoding: 'utf8', timeout: 120_000 });
    const out = (r.stdout ?? '') + (r.stderr ?? '');
    if (out && !quiet) process.stdout.write(out.endsWith('\n') ? out : out + '\n');
    if ((r.status !== 0) !== expectFail) {
      throw new Error(`'safeside ${args.join(' ')}' ${expectFail ? 'succeeded but was expected to fail' : `exited with ${r.status}`}`);
    }
    if (expectFail) process.stdout.write(`(exit code ${r.status})\n`);
    return r.stdout ?? '';
  };

  try {
    say(`Working in ${dir}: a ${backingBytes >> 20} MiB file stands in for the article's /dev/sdb`);
    const fd = fs.openSync(disk, 'w');
    fs.ftruncateSync(fd, backingBytes);
    fs.closeSync(fd);
    fs.writeFileSync(conf, seedConfig(NODE, disk, 'demo-peer'));
    process.stdout.write(fs.readFileSync(conf, 'utf8'));

    say('Start the node daemon (what the drbd service does)');
    process.stdout.write(`$ safeside daemon --config ${conf} --node ${NODE} --state-dir ${stateDir} &\n`);
    const logFile = path.join(dir, 'daemon.log');
    const logFd = fs.openSync(logFile, 'w');
    daemon = spawn(process.execPath, [cliMain, 'daemon', '--config', conf, '--node', NODE, '--state-dir', stateDir], {
      stdio: ['ignore', logFd, logFd],
    });
    fs.closeSync(logFd);
    const deadline = Date.now() + readyTimeoutMs;
    while (!fs.existsSync(path.join(stateDir, 'control.sock'))) {
      if (daemon.exitCode !== null || Date.now() > deadline) {
        throw new Error(`the daemon did not start:\n${fs.readFileSync(logFile, 'utf8')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }

    say('Create the meta data block (drbdadm create-md r0)');
    safeside(['create-md', 'r0']);
    say('Bring the resource up: it attaches as Secondary with Inconsistent data');
    safeside(['up', 'r0']);
    safeside(['status', 'r0']);
    say('Promoting without --force is refused: nothing says this data is good yet');
    safeside(['primary', 'r0'], true);
    say('The first promotion declares this copy the good one (drbdadm -- --overwrite-data-of-peer primary)');
    safeside(['primary', '--force', 'r0']);
    safeside(['status', '--proc']);
    const dev = safeside(['device', 'r0']).trim();
    const uri = JSON.parse(safeside(['status', '--json', 'r0'], false, true))[0]['nbd-uri'] as string;
    process.stdout.write(`(status --json gives the export's address: "nbd-uri": "${uri}")\n`);

    say('The volume is an NBD export too; any NBD client can use it while this node is Primary');
    sh('nbdinfo', [uri]);

    say(`Format and mount the device (${dev} stands for /dev/drbd0)`);
    sh('mkfs.ext4', ['-q', '-F', dev]);
    fs.mkdirSync(mnt);
    sh('mount', [dev, mnt]);
    mounted = true;
    fs.writeFileSync(path.join(mnt, 'hello.txt'), 'hello world\n');
    sh('cat', [path.join(mnt, 'hello.txt')]);

    say('Demoting while mounted is refused, as with DRBD');
    safeside(['secondary', 'r0'], true);
    say('Unmount, demote, and the device refuses I/O while Secondary');
    sh('umount', [mnt]);
    mounted = false;
    safeside(['secondary', 'r0']);
    sh('mount', [dev, mnt], true);
    sh('nbdinfo', [uri], true, { LIBNBD_DEBUG: '1' }, /server error message|^nbdinfo:/);

    say('Take the resource down and up again; promote (no --force needed now) and read the file back');
    safeside(['down', 'r0']);
    safeside(['up', 'r0']);
    safeside(['primary', 'r0']);
    const dev2 = safeside(['device', 'r0']).trim();
    sh('mount', [dev2, mnt]);
    mounted = true;
    const text = fs.readFileSync(path.join(mnt, 'hello.txt'), 'utf8');
    process.stdout.write(`hello.txt says: ${text}`);
    if (text !== 'hello world\n') throw new Error(`hello.txt holds '${text}', expected 'hello world'`);
    sh('umount', [mnt]);
    mounted = false;
    safeside(['status']);
    safeside(['down', 'r0']);
    say('Done: the data survived demotion, down and up.');
  } catch (err) {
    failed = true;
    process.stderr.write(`\ndemo failed: ${(err as Error).message}\n`);
  } finally {
    say('Cleaning up');
    if (mounted) spawnSync('umount', [mnt]);
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          daemon?.kill('SIGKILL');
          resolve();
        }, 10_000);
        daemon!.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    if (opts.keep) process.stdout.write(`kept ${dir}\n`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}
