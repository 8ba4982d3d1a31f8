// `safeside demo`: the seed article on two nodes, narrated. Two daemons on 127.0.0.1
// and 127.0.0.2 in a temporary directory replicate a volume; the demo creates metadata,
// brings both up, forces the first Primary, watches the initial sync, formats and
// mounts the device, switches roles and reads the file back on the other node, shows
// a disconnect and a bitmap-only resync, and cleans up everything it created.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { twoNodeConfig } from './seed-config.js';

const cliMain = fileURLToPath(new URL('./main.js', import.meta.url));
const readyTimeoutMs = 15_000;
const syncTimeoutMs = 120_000;
const backingBytes = 256 * 1024 * 1024;

const say = (text: string): void => void process.stdout.write(`\n== ${text}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface DemoNode {
  name: string;
  address: string;
  stateDir: string;
  disk: string;
  mnt: string;
  daemon: ChildProcess | null;
  mounted: boolean;
}

export async function runDemo(opts: { keep: boolean }): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safeside-demo-'));
  const conf = path.join(dir, 'drbd.conf');
  const port = 7789 + Math.floor(Math.random() * 200);
  const nodes: DemoNode[] = [
    { name: 'ubu22042-1', address: '127.0.0.1', stateDir: path.join(dir, 'node1'), disk: path.join(dir, 'node1-sdb.img'), mnt: path.join(dir, 'node1-srv'), daemon: null, mounted: false },
    { name: 'ubu22042-2', address: '127.0.0.2', stateDir: path.join(dir, 'node2'), disk: path.join(dir, 'node2-sdb.img'), mnt: path.join(dir, 'node2-srv'), daemon: null, mounted: false },
  ];
  const [n1, n2] = nodes as [DemoNode, DemoNode];
  let failed = false;

  const sh = (cmd: string, args: string[], expectFail = false): string => {
    process.stdout.write(`$ ${[cmd, ...args].join(' ')}\n`);
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
    const out = (r.stdout ?? '') + (r.stderr ?? '');
    if (out) process.stdout.write(out.endsWith('\n') ? out : out + '\n');
    if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
    if ((r.status !== 0) !== expectFail) {
      throw new Error(`'${cmd} ${args.join(' ')}' ${expectFail ? 'succeeded but was expected to fail' : `exited with ${r.status}`}`);
    }
    return r.stdout ?? '';
  };
  const safeside = (node: DemoNode, args: string[], o: { expectFail?: boolean; quiet?: boolean } = {}): string => {
    if (!o.quiet) process.stdout.write(`${node.name}$ safeside ${args.join(' ')}\n`);
    const r = spawnSync(process.execPath, [cliMain, '--state-dir', node.stateDir, ...args], { encoding: 'utf8', timeout: 120_000 });
    const out = (r.stdout ?? '') + (r.stderr ?? '');
    if (out && !o.quiet) process.stdout.write(out.endsWith('\n') ? out : out + '\n');
    if ((r.status !== 0) !== (o.expectFail === true)) {
      throw new Error(`'safeside ${args.join(' ')}' on ${node.name} ${o.expectFail ? 'succeeded but was expected to fail' : `exited with ${r.status}: ${out.trim()}`}`);
    }
    if (o.expectFail && !o.quiet) process.stdout.write(`(exit code ${r.status})\n`);
    return r.stdout ?? '';
  };
  const peerDevice = (node: DemoNode): { repl: string; peerDisk: string; oosKiB: number; sentKiB: number } => {
    const s = JSON.parse(safeside(node, ['status', '--json', 'r0'], { quiet: true }))[0];
    const pd = s.connections[0].peer_devices[0] ?? {};
    return { repl: pd['replication-state'] ?? 'Off', peerDisk: pd['peer-disk-state'] ?? 'DUnknown', oosKiB: pd['out-of-sync'] ?? 0, sentKiB: pd.sent ?? 0 };
  };
  const waitInSync = async (node: DemoNode, showProgress: boolean): Promise<void> => {
    const deadline = Date.now() + syncTimeoutMs;
    let shown = false;
    for (;;) {
      const pd = peerDevice(node);
      if (pd.repl === 'Established' && pd.peerDisk === 'UpToDate') return;
      if (showProgress && !shown && (pd.repl === 'SyncTarget' || pd.repl === 'SyncSource')) {
        process.stdout.write(`${node.name}$ cat /proc/drbd   # (safeside status --proc)\n`);
        process.stdout.write(safeside(node, ['status', '--proc'], { quiet: true }));
        shown = true;
      }
      if (Date.now() > deadline) throw new Error(`${node.name} did not get in sync within ${syncTimeoutMs / 1000} s`);
      await sleep(200);
    }
  };

  try {
    say(`Working in ${dir}: two nodes on 127.0.0.1 and 127.0.0.2, a ${backingBytes >> 20} MiB file each stands in for /dev/sdb`);
    for (const n of nodes) {
      const fd = fs.openSync(n.disk, 'w');
      fs.ftruncateSync(fd, backingBytes);
      fs.closeSync(fd);
      fs.mkdirSync(n.mnt);
    }
    fs.writeFileSync(conf, twoNodeConfig({ port, nodes: nodes.map((n) => ({ name: n.name, address: n.address, disk: n.disk })) }));
    process.stdout.write(fs.readFileSync(conf, 'utf8'));

    say('Start the node daemons (what the drbd service does on each host)');
    for (const n of nodes) {
      process.stdout.write(`${n.name}$ safeside daemon --config ${conf} --node ${n.name} --state-dir ${n.stateDir} &\n`);
      const logFile = path.join(dir, `${n.name}.log`);
      const logFd = fs.openSync(logFile, 'w');
      n.daemon = spawn(process.execPath, [cliMain, 'daemon', '--config', conf, '--node', n.name, '--state-dir', n.stateDir], {
        stdio: ['ignore', logFd, logFd],
      });
      fs.closeSync(logFd);
    }
    for (const n of nodes) {
      const deadline = Date.now() + readyTimeoutMs;
      while (!fs.existsSync(path.join(n.stateDir, 'control.sock'))) {
        if (n.daemon!.exitCode !== null || Date.now() > deadline) {
          throw new Error(`the daemon of ${n.name} did not start:\n${fs.readFileSync(path.join(dir, `${n.name}.log`), 'utf8')}`);
        }
        await sleep(50);
      }
    }

    say('Create the meta data block on both nodes (drbdadm create-md r0)');
    for (const n of nodes) safeside(n, ['create-md', 'r0']);
    say('Bring the resource up on both: they connect, authenticate with the shared secret, and wait as Secondary');
    for (const n of nodes) safeside(n, ['up', 'r0']);
    await sleep(500);
    safeside(n1, ['status', 'r0']);

    say('Make the first node Primary; its data overwrites the peer (drbdadm -- --overwrite-data-of-peer primary all)');
    safeside(n1, ['primary', 'r0'], { expectFail: true });
    safeside(n1, ['primary', '--force', 'r0']);
    say('A second Primary is refused while they are connected, as with DRBD');
    safeside(n2, ['primary', '--force', 'r0'], { expectFail: true });

    say('The initial sync runs from the Primary to the Secondary (watch cat /proc/drbd)');
    await waitInSync(n2, true);
    safeside(n2, ['status', '--proc']);

    const dev1 = safeside(n1, ['device', 'r0']).trim();
    say(`Format and mount the replicated device on the Primary (${dev1} stands for /dev/drbd0)`);
    sh('mkfs.ext4', ['-q', '-F', dev1]);
    sh('mount', [dev1, n1.mnt]);
    n1.mounted = true;
    fs.writeFileSync(path.join(n1.mnt, 'hello.txt'), 'hello world\n');
    sh('cat', [path.join(n1.mnt, 'hello.txt')]);

    const dev2 = safeside(n2, ['device', 'r0']).trim();
    say('The Secondary refuses its device: no mount there');
    sh('mount', [dev2, n2.mnt], true);

    say('Demoting while mounted is refused; unmount, demote, promote the other node');
    safeside(n1, ['secondary', 'r0'], { expectFail: true });
    sh('umount', [n1.mnt]);
    n1.mounted = false;
    safeside(n1, ['secondary', 'r0']);
    safeside(n2, ['primary', 'r0']);
    sh('mount', [dev2, n2.mnt]);
    n2.mounted = true;
    sh('cat', [path.join(n2.mnt, 'hello.txt')]);
    const text = fs.readFileSync(path.join(n2.mnt, 'hello.txt'), 'utf8');
    if (text !== 'hello world\n') throw new Error(`hello.txt holds '${text}' on ${n2.name}, expected 'hello world'`);

    say('Disconnect, write on the Primary, reconnect: only the blocks written meanwhile move');
    safeside(n1, ['disconnect', 'r0']);
    fs.writeFileSync(path.join(n2.mnt, 'while-apart.txt'), 'written while the peer was away\n'.repeat(1000));
    sh('sync', []);
    const before = peerDevice(n2);
    process.stdout.write(`(${n2.name} marks ${before.oosKiB} KiB out of sync for ${n1.name})\n`);
    safeside(n1, ['connect', 'r0']);
    await waitInSync(n2, false);
    const after = peerDevice(n2);
    process.stdout.write(`(resync sent ${after.sentKiB - before.sentKiB} KiB of a ${backingBytes >> 10} KiB volume)\n`);
    safeside(n2, ['status']);

    sh('umount', [n2.mnt]);
    n2.mounted = false;
    for (const n of nodes) safeside(n, ['down', 'r0']);
    say('Done: the data followed the Primary role from one node to the other.');
  } catch (err) {
    failed = true;
    process.stderr.write(`\ndemo failed: ${(err as Error).message}\n`);
  } finally {
    say('Cleaning up');
    for (const n of nodes) if (n.mounted) spawnSync('umount', [n.mnt]);
    for (const n of nodes) {
      const d = n.daemon;
      if (!d || d.exitCode !== null) continue;
      d.kill('SIGTERM');
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          d.kill('SIGKILL');
          resolve();
        }, 10_000);
        d.once('exit', () => {
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
