// Kernel facts about one network namespace, read from the host side with iproute2's JSON output (`ip -j`) through
// `nsenter --net=<namespace file>`: its links (with the veth peer's index and the bridge each is on), addresses,
// routes and neighbours (the ARP table). The checker's own reader, independent of the engine's lib/net.
import { spawnSync } from 'node:child_process'

export interface Link {
  ifindex: number
  ifname: string
  flags: string[]
  operstate: string
  /** A veth's peer: its index, in the namespace given by link_netnsid (absent: this one). */
  link_index?: number
  link_netnsid?: number
  /** The bridge this link is plugged into. */
  master?: string
  address?: string
  linkinfo?: { info_kind?: string }
}

export interface Address {
  ifname: string
  addr_info: { family: string; local: string; prefixlen: number }[]
}

export interface Route {
  dst: string
  gateway?: string
  dev?: string
}

export interface Neighbour {
  dst: string
  dev: string
  lladdr?: string
  state?: string[]
}

export interface NetnsFacts {
  links: Link[]
  addresses: Address[]
  routes: Route[]
  neighbours: Neighbour[]
}

function ipJson<T>(netns: string, args: string[]): T {
  const r = spawnSync('nsenter', [`--net=${netns}`, '--', 'ip', '-j', ...args], { encoding: 'utf8' })
  if (r.error || r.status !== 0) throw new Error(`ip -j ${args.join(' ')} in ${netns}: ${r.error?.message ?? r.stderr.trim()}`)
  return JSON.parse(r.stdout || '[]') as T
}

/** Everything at once, for a namespace file such as /proc/PID/ns/net. */
export function readNetns(netns: string): NetnsFacts {
  return {
    links: ipJson<Link[]>(netns, ['-d', 'link', 'show']),
    addresses: ipJson<Address[]>(netns, ['address', 'show']),
    routes: ipJson<Route[]>(netns, ['-4', 'route', 'show']),
    neighbours: ipJson<Neighbour[]>(netns, ['-4', 'neigh', 'show']),
  }
}

/** The IPv4 addresses of an interface, "10.99.0.2/24". */
export function ipv4Of(facts: NetnsFacts, ifname: string): string[] {
  return (facts.addresses.find((a) => a.ifname === ifname)?.addr_info ?? [])
    .filter((i) => i.family === 'inet')
    .map((i) => `${i.local}/${i.prefixlen}`)
}

export function linkNamed(facts: NetnsFacts, ifname: string): Link | undefined {
  return facts.links.find((l) => l.ifname === ifname)
}

export const isUp = (link: Link | undefined): boolean => Boolean(link?.flags.includes('UP'))
export const isVeth = (link: Link | undefined): boolean => link?.linkinfo?.info_kind === 'veth'
