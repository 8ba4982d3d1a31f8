// The `safeside` command. `daemon`, `demo` and `arbiter` run here; every other verb
// is sent to the node's daemon over its control socket, which answers with the text
// to print and the exit code (so messages and codes live in one place, the daemon).

import { Command, CommanderError, Option } from 'commander';
import { callControl, ControlError, type ControlRequest } from '../runtime/control-socket.js';
import { controlSocketPath, resolveStateDir } from '../runtime/state-dir.js';
import { VERSION } from '../version.js';

/** Exit codes, documented in docs/operations.md. */
export const ExitCode = {
  ok: 0,
  error: 1,
  usage: 3,
  config: 10,
  stateChange: 11,
  metadata: 20,
} as const;

/**
 * Sets the exit code instead of calling process.exit(), so output to a pipe is written in
 * full before the process ends (a long `group log` or `simulate` would be cut short).
 */
function sendVerb(program: Command, verb: string, args: string[], options: Record<string, string | boolean>): Promise<void> {
  const stateDir = resolveStateDir(program.opts<{ stateDir?: string }>().stateDir);
  const req: ControlRequest = { verb, args, options };
  return callControl(controlSocketPath(stateDir), req).then(
    (reply) => {
      if (reply.stdout) process.stdout.write(reply.stdout);
      if (reply.stderr) process.stderr.write(reply.stderr);
      process.exitCode = reply.exitCode;
    },
    (err: unknown) => {
      process.stderr.write(`safeside: ${(err as Error).message}\n`);
      process.exitCode = ExitCode.error;
    },
  );
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('safeside')
    .description('replicated volumes, cluster membership and resource management in userspace')
    .version(VERSION)
    .option('--state-dir <dir>', 'node state directory (default $SAFESIDE_STATE_DIR or /var/lib/safeside)')
    .showSuggestionAfterError(true)
    .exitOverride();

  program
    .command('daemon')
    .description('run the node daemon in the foreground')
    .option('--config <file>', 'volumes in drbd.conf syntax')
    .option('--cluster <file>', 'cluster in corosync.conf syntax')
    .option('--node <name>', 'this node\'s name in the config (default: the host name)')
    .option('--state-dir <dir>', 'node state directory')
    .option('--nbd-tcp <addr>', 'also serve NBD on this TCP address (HOST:PORT)')
    .option('--tlshd-conf <file>', 'certificates for resources with "tls yes" (default $SAFESIDE_TLSHD_CONF or /etc/tlshd.conf)')
    .action(async (opts: { config?: string; cluster?: string; node?: string; stateDir?: string; nbdTcp?: string; tlshdConf?: string }) => {
      const { runDaemon } = await import('../daemon/main.js');
      await runDaemon({
        configFile: opts.config ?? null,
        clusterFile: opts.cluster ?? null,
        nodeName: opts.node ?? null,
        stateDir: resolveStateDir(opts.stateDir ?? program.opts<{ stateDir?: string }>().stateDir),
        nbdTcp: opts.nbdTcp ?? null,
        tlshdConf: opts.tlshdConf ?? process.env['SAFESIDE_TLSHD_CONF'],
      });
    });

  program
    .command('demo')
    .description('set up a self-contained local node in a temporary directory and walk through it')
    .option('--keep', 'leave the temporary directory in place')
    .action(async (opts: { keep?: boolean }) => {
      const { runDemo } = await import('./demo.js');
      process.exit(await runDemo({ keep: opts.keep === true }));
    });

  const resourceVerb = (name: string, description: string): Command =>
    program.command(name).description(description).argument('<resource>', 'resource name, or "all"');

  resourceVerb('create-md', 'initialize the volume meta data of a resource')
    .option('--force', 'overwrite existing meta data or a disk that holds data')
    .action((res: string, o: { force?: boolean }) => sendVerb(program, 'create-md', [res], { force: o.force === true }));
  resourceVerb('up', 'attach the backing disks and bring the resource up').action((res: string) =>
    sendVerb(program, 'up', [res], {}),
  );
  resourceVerb('down', 'take the resource down (demotes first)').action((res: string) => sendVerb(program, 'down', [res], {}));
  resourceVerb('primary', 'promote the resource to Primary')
    .addOption(new Option('--force', 'consider the local data UpToDate (= --overwrite-data-of-peer)'))
    .addOption(new Option('--overwrite-data-of-peer', 'same as --force').hideHelp())
    .action((res: string, o: { force?: boolean; overwriteDataOfPeer?: boolean }) =>
      sendVerb(program, 'primary', [res], { force: o.force === true || o.overwriteDataOfPeer === true }),
    );
  resourceVerb('secondary', 'demote the resource to Secondary').action((res: string) =>
    sendVerb(program, 'secondary', [res], {}),
  );
  resourceVerb('connect', 'connect to the peers (after disconnect, or to resolve a split brain)')
    .option('--discard-my-data', 'this node is the split-brain victim: take the peer\'s data')
    .option('--peer <name>', 'only this peer')
    .action((res: string, o: { discardMyData?: boolean; peer?: string }) =>
      sendVerb(program, 'connect', [res], { discardMyData: o.discardMyData === true, ...(o.peer ? { peer: o.peer } : {}) }),
    );
  resourceVerb('disconnect', 'disconnect from the peers and stay StandAlone')
    .option('--peer <name>', 'only this peer')
    .action((res: string, o: { peer?: string }) => sendVerb(program, 'disconnect', [res], o.peer ? { peer: o.peer } : {}));
  resourceVerb('invalidate', 'discard the local data and resync everything from a peer').action((res: string) =>
    sendVerb(program, 'invalidate', [res], {}),
  );
  resourceVerb('verify', 'compare the data with a peer block by block (needs verify-alg)')
    .option('--peer <name>', 'only this peer')
    .action((res: string, o: { peer?: string }) => sendVerb(program, 'verify', [res], o.peer ? { peer: o.peer } : {}));
  resourceVerb('device', 'print the path of the local block device of the resource')
    .option('--volume <n>', 'volume number', '0')
    .action((res: string, o: { volume: string }) => sendVerb(program, 'device', [res], { volume: o.volume }));
  program
    .command('quorum')
    .description('show quorum and votes (like corosync-quorumtool -s); exit 0 quorate, 2 not quorate, 1 error')
    .option('--json', 'JSON output')
    .action((o: { json?: boolean }) => sendVerb(program, 'quorum', [], { json: o.json === true }));
  program
    .command('members')
    .description('show the agreed cluster membership and link status')
    .option('--json', 'JSON output')
    .action((o: { json?: boolean }) => sendVerb(program, 'members', [], { json: o.json === true }));
  const group = program.command('group').description('process groups with totally ordered messages (like CPG)');
  group
    .command('join')
    .argument('<group>', 'group name')
    .action((g: string) => sendVerb(program, 'group-join', [g], {}));
  group
    .command('leave')
    .argument('<group>', 'group name')
    .action((g: string) => sendVerb(program, 'group-leave', [g], {}));
  group
    .command('send')
    .argument('<group>', 'group name')
    .argument('<message>', 'text to multicast to the group')
    .action((g: string, m: string) => sendVerb(program, 'group-send', [g, m], {}));
  group
    .command('log')
    .description('messages and membership changes this node delivered for the group, in delivery order')
    .argument('<group>', 'group name')
    .option('--json', 'JSON output')
    .action((g: string, o: { json?: boolean }) => sendVerb(program, 'group-log', [g], { json: o.json === true }));

  program
    .command('keygen')
    .description('write a new cluster key (like corosync-keygen)')
    .option('--key <file>', 'where to write it', '/etc/safeside/authkey')
    .option('--size <bytes>', 'key size in bytes (128..4096)', '256')
    .option('--force', 'overwrite an existing key')
    .action(async (o: { key: string; size: string; force?: boolean }) => {
      const { runKeygen } = await import('./keygen.js');
      process.exitCode = await runKeygen(o.key, o.size, o.force === true);
    });

  program
    .command('simulate')
    .description('compute the placement and transition for a CIB, like crm_simulate -S')
    .requiredOption('--xml <file>', 'CIB XML with a status section')
    .option('--explain <resource>', 'say in plain words why the resource goes where it goes')
    .action(async (o: { xml: string; explain?: string }) => {
      const { runSimulate } = await import('./simulate.js');
      process.exitCode = await runSimulate({ xml: o.xml, ...(o.explain ? { explain: o.explain } : {}) });
    });

  program
    .command('arbiter')
    .description('run the diskless quorum arbiter (tie-breaker vote) in the foreground')
    .requiredOption('--cluster <file>', 'the cluster in corosync.conf syntax (quorum.device.net.host is its address)')
    .option('--listen <addr>', 'listen on HOST[:PORT] instead of quorum.device.net.host/port')
    .option('--key <file>', 'cluster key (default: totem.keyfile, then /etc/safeside/authkey)')
    .action(async (o: { cluster: string; listen?: string; key?: string }) => {
      const { runArbiter } = await import('../daemon/arbiter.js');
      await runArbiter({ clusterFile: o.cluster, listen: o.listen ?? null, keyFile: o.key ?? null });
    });

  program
    .command('status')
    .description('show resource status')
    .argument('[resource]', 'resource name (default: all)')
    .option('--json', 'drbdsetup status --json format')
    .option('--proc', '/proc/drbd (8.4) format')
    .action((res: string | undefined, o: { json?: boolean; proc?: boolean }) =>
      sendVerb(program, 'status', res ? [res] : [], { json: o.json === true, proc: o.proc === true }),
    );
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are successful exits; everything else is a usage error.
      process.exit(err.exitCode === 0 ? 0 : ExitCode.usage);
    }
    process.stderr.write(`safeside: ${(err as Error).message}\n`);
    process.exit(typeof (err as { exitCode?: unknown }).exitCode === 'number' ? (err as { exitCode: number }).exitCode : 1);
  }
}

await main(process.argv);
