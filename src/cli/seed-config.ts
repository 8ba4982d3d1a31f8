// The seed article's Listing 2 with its braces closed, pointed at a file instead of
// /dev/sdb: the built-in default of `safeside demo` and of the end-to-end tests.

export function seedConfig(node: string, disk: string, peer = 'peer-node'): string {
  return `# The seed article's Listing 2, braces closed, on ${disk} instead of /dev/sdb.
resource r0 {
        protocol C;
        startup {
                wfc-timeout  15;
                degr-wfc-timeout 60;
        }
        net {
                cram-hmac-alg sha1;
                shared-secret "secret";
        }
        on ${node} {
                device /dev/drbd0;
                disk ${disk};
                meta-disk internal;
        }
        on ${peer} {
                device /dev/drbd0;
                disk /dev/sdb;
                meta-disk internal;
        }
}
`;
}

/** The same resource replicated between nodes on loopback addresses (one port, one address each). */
export function twoNodeConfig(opts: { port: number; nodes: { name: string; address: string; disk: string }[] }): string {
  const sections = opts.nodes
    .map(
      (n) => `        on ${n.name} {
                device /dev/drbd0;
                disk ${n.disk};
                meta-disk internal;
                address ${n.address}:${opts.port};
        }`,
    )
    .join('\n');
  return `# The seed article's Listing 2, braces closed, with the addresses replication needs.
resource r0 {
        protocol C;
        startup {
                wfc-timeout  15;
                degr-wfc-timeout 60;
        }
        net {
                cram-hmac-alg sha1;
                shared-secret "secret";
                verify-alg sha1;
        }
${sections}
}
`;
}
