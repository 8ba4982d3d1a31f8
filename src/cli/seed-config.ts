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
