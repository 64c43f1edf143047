// The container network's names and numbers. The engine builds it with them and the checker checks it against
// them (CONTRIBUTING.md, "The engine's command line"): change them here, not in a copy.

/** The bridge every container is plugged into (like docker0). */
export const BRIDGE = 'mc0'
/** The containers' subnet: the bridge has its first address, containers the others. */
export const SUBNET = '10.99.0.0/24'
/** The bridge's address: the containers' default route. */
export const GATEWAY = '10.99.0.1'
/** The nft table with every rule of minicontainer: `nft list table ip minicontainer`. */
export const NAT_TABLE = 'minicontainer'
