// IPv4 addresses as numbers, for arithmetic on subnets: "10.99.0.5" <-> 0x0a630005.

/** "10.99.0.5" -> 174260229. Throws on anything that is not a dotted-quad address. */
export function ipToNumber(address: string): number {
  const parts = address.split('.')
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new Error(`not an IPv4 address: ${JSON.stringify(address)}`)
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0)
}

/** 174260229 -> "10.99.0.5". */
export function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.')
}

export interface Subnet {
  /** "10.99.0.0/24" */
  cidr: string
  prefixLength: number
  /** The first address (the network's own name, never a host's), as a number. */
  network: number
  /** The last address (the broadcast address, never a host's), as a number. */
  broadcast: number
}

/** "10.99.0.0/24" -> its first and last address as numbers. */
export function parseSubnet(cidr: string): Subnet {
  const [address, bits] = cidr.split('/')
  const prefixLength = Number(bits)
  if (!Number.isInteger(prefixLength) || prefixLength < 8 || prefixLength > 30) {
    throw new Error(`not a subnet with room for hosts: ${JSON.stringify(cidr)}`)
  }
  const size = 2 ** (32 - prefixLength)
  const network = Math.floor(ipToNumber(address!) / size) * size
  return { cidr: `${numberToIp(network)}/${prefixLength}`, prefixLength, network, broadcast: network + size - 1 }
}

/**
 * A MAC address made from an IPv4 address, 02:6d:<the 4 bytes of the address> (02 = locally administered,
 * unicast). Docker did the same (02:42:...): a container that gets an address that was someone else's keeps
 * the MAC the neighbours' ARP caches already hold for it.
 */
export function macForAddress(address: string): string {
  const n = ipToNumber(address)
  return ['02', '6d', ...[24, 16, 8, 0].map((shift) => (Math.floor(n / 2 ** shift) % 256).toString(16).padStart(2, '0'))].join(':')
}
