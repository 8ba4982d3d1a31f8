// The seed article's Listing 2 with its braces closed, pointed at files instead of
// /dev/sdb: the built-in default of `safeside demo` and of the end-to-end tests.

interface SeedHost {
  name: string;
  disk: string;
  /** HOST:PORT; replication needs one, a single node does not. */
  address?: string;
}

function seedResource(comment: string, hosts: SeedHost[], extraNet: string[]): string {
  const net = ['cram-hmac-alg sha1;', 'shared-secret "secret";', ...extraNet].map((l) => `                ${l}`).join('\n');
  const sections = hosts
    .map((h) =>
      [
        `        on ${h.name} {`,
        `                device /dev/drbd0;`,
        `                disk ${h.disk};`,
        `                meta-disk internal;`,
        ...(h.address ? [`                address ${h.address};`] : []),
        `        }`,
      ].join('\n'),
    )
    .join('\n');
  return `# ${comment}
resource r0 {
        protocol C;
        startup {
                wfc-timeout  15;
                degr-wfc-timeout 60;
        }
        net {
${net}
        }
${sections}
}
`;
}

export function seedConfig(node: string, disk: string, peer = 'peer-node'): string {
  return seedResource(`The seed article's Listing 2, braces closed, on ${disk} instead of /dev/sdb.`, [
    { name: node, disk },
    { name: peer, disk: '/dev/sdb' },
  ], []);
}

/** The same resource replicated between nodes on loopback addresses (one port, one address each). */
export function twoNodeConfig(opts: { port: number; nodes: { name: string; address: string; disk: string }[] }): string {
  return seedResource(
    "The seed article's Listing 2, braces closed, with the addresses replication needs.",
    opts.nodes.map((n) => ({ name: n.name, disk: n.disk, address: `${n.address}:${opts.port}` })),
    ['verify-alg sha1;'],
  );
}
