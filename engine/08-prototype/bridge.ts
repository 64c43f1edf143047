// Step 08 (prototype; becomes engine/all-steps/bridge.ts with markers): a cable from the container to the
// host, a bridge on the host side, NAT on the way out and for published ports.
//
//   container netns                 host netns (the engine)                           the outside
//   ┌──────────────────┐            ┌───────────────────────────────────────────┐
//   │ eth0 10.99.0.2/24├────veth────┤vethXXXXXXXX ┐                             │
//   │ default via      │            │             ├─ mc0 10.99.0.1/24 (bridge)  │
//   │   10.99.0.1      │            │vethYYYYYYYY ┘     │ routing, ip_forward=1 │
//   └──────────────────┘            │                   │ nft: masquerade, DNAT ├─ eth0 ──► world
//                                   └───────────────────────────────────────────┘
import fs from 'node:fs'
import type { Publish } from '../../lib/cli.ts'
import { FriendlyError } from '../../lib/errors.ts'
import { BRIDGE, GATEWAY, NAT_TABLE, SUBNET } from '../../lib/net/defaults.ts'
import { macForAddress, numberToIp, parseSubnet } from '../../lib/net/ipv4.ts'
import { isHeld, lockFile, networkStateDir, processStartTime, readLeases, removeLease, writeLease, type Lease } from '../../lib/net/leases.ts'
import { withFileLock } from '../../lib/net/lock.ts'
import { RouteSocket } from '../../lib/net/netlink.ts'
import { deleteRulesWithComment, nft } from '../../lib/net/nft.ts'
import { portInUse } from '../../lib/net/ports.ts'

export { BRIDGE, GATEWAY, NAT_TABLE, SUBNET }

/**
 * Host side, before init exists: the bridge (made once, then reused), an address of the container's own
 * (its lease), its published ports checked. Under the network lock: two engines starting at the same moment
 * take turns, so they never get the same address.
 */
export function reserveNetwork(publish: Publish[]): Lease {
  return withFileLock(lockFile(), () => {
    removeStaleLeases()
    ensureBridge()
    const leases = readLeases()
    for (const p of publish) assertPortFree(p, leases)
    const id = Math.random().toString(16).slice(2, 10).padEnd(8, '0')
    const lease: Lease = {
      address: chooseAddress(new Set(leases.map((l) => l.address))),
      pid: process.pid,
      startTime: processStartTime('self')!,
      veth: `veth${id}`,
      tag: `minicontainer ${id}`,
      publish,
    }
    writeLease(lease)
    return lease
  })
}

/** The first address of SUBNET that is free: not the network's, not the gateway's, not the broadcast, not leased. */
export function chooseAddress(taken: Set<string>): string {
  const subnet = parseSubnet(SUBNET)
  for (let n = subnet.network + 1; n < subnet.broadcast; n++) {
    const address = numberToIp(n)
    if (address !== GATEWAY && !taken.has(address)) return address
  }
  throw new FriendlyError(`no free address left in ${SUBNET}: ${taken.size} containers hold one`, {
    hint: `stop a container, or remove leases of engines that no longer run from ${networkStateDir()}/leases`,
  })
}

/**
 * Host side, while init waits in its new network namespace: the veth pair, one end on the bridge, the other
 * moved into the container as eth0 with its address and route; then the container's NAT rules.
 */
export function connectContainer(pid: number, lease: Lease): void {
  const peer = `tmp${lease.veth.slice(4)}`
  const host = new RouteSocket()
  try {
    host.createVethPair(lease.veth, peer, { peerMac: macForAddress(lease.address) })
    host.setLink(lease.veth, { master: BRIDGE, up: true })
    host.setLink(peer, { netnsPid: pid, name: 'eth0' })
  } finally {
    host.close()
  }
  const inside = RouteSocket.inNamespaceOf(pid)
  try {
    inside.addAddress('eth0', lease.address, parseSubnet(SUBNET).prefixLength)
    inside.setLink('eth0', { up: true })
    inside.addDefaultRoute(GATEWAY)
  } finally {
    inside.close()
  }
  nft(natRules(lease), `the NAT rules of the container at ${lease.address}`)
}

/** nft commands adding the container's rules, each tagged with lease.tag so they can be found and removed. */
export function natRules(lease: Lease): string {
  const lines = [`add rule ip ${NAT_TABLE} outbound ip saddr ${lease.address} oifname != "${BRIDGE}" masquerade comment "${lease.tag}"`]
  for (const p of lease.publish) {
    lines.push(`add rule ip ${NAT_TABLE} published ${p.protocol} dport ${p.hostPort} dnat to ${lease.address}:${p.containerPort} comment "${lease.tag}"`)
  }
  return lines.join('\n') + '\n'
}

/** Host side, when the container is over, whatever happened: its veth, its rules, its lease. */
export function disconnectContainer(lease: Lease): void {
  withFileLock(lockFile(), () => releaseLease(lease))
}

// ---- Plumbing given to the learner ---------------------------------------------------------------------

function releaseLease(lease: Lease): void {
  if (lease.veth) {
    const host = new RouteSocket()
    try {
      host.deleteLink(lease.veth) // gone already if the container's namespace went first: deleting one end deletes both
    } finally {
      host.close()
    }
  }
  if (lease.tag) deleteRulesWithComment('ip', NAT_TABLE, lease.tag)
  removeLease(lease.address)
}

/** An engine killed with SIGKILL cannot clean up: the next one removes what it left (as with cgroups). */
function removeStaleLeases(): void {
  for (const lease of readLeases()) if (!isHeld(lease)) releaseLease(lease)
}

function assertPortFree(p: Publish, leases: Lease[]): void {
  const holder = leases.find((l) => l.publish.some((q) => q.hostPort === p.hostPort && q.protocol === p.protocol))
  if (holder) {
    throw new FriendlyError(`port ${p.hostPort}/${p.protocol} is already published by the container at ${holder.address} (engine pid ${holder.pid})`, { hint: 'publish another host port, or stop that container' })
  }
  if (portInUse(p.hostPort, p.protocol, (file) => readIfExists(file))) {
    throw new FriendlyError(`port ${p.hostPort}/${p.protocol} is in use by a program on the host`, { hint: `choose another host port (\`ss -lntup\` shows who has ${p.hostPort})` })
  }
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/**
 * The bridge with the gateway's address, forwarding on, and the table with the rules every container shares.
 * Made by the first engine, checked by every later one (cheap: everything here is idempotent).
 */
function ensureBridge(): void {
  const host = new RouteSocket()
  try {
    if (host.linkIndex(BRIDGE) === undefined) host.createBridge(BRIDGE, macForAddress(GATEWAY))
    host.addAddress(BRIDGE, GATEWAY, parseSubnet(SUBNET).prefixLength, { replace: true })
    host.setLink(BRIDGE, { up: true })
  } finally {
    host.close()
  }
  enableForwarding()
  // Connections from the host itself to 127.0.0.1:PORT are DNATed to a container: such a packet leaves
  // through the bridge with the source 127.0.0.1, which the kernel drops as a "martian" unless
  // route_localnet allows it on that interface (docker sets the same on docker0 without its userland proxy).
  fs.writeFileSync(`/proc/sys/net/ipv4/conf/${BRIDGE}/route_localnet`, '1')
  nft(sharedRules(), 'the minicontainer nft table')
}

/** The host routes between its interfaces only with ip_forward on; remember if it was off (net:reset restores it). */
function enableForwarding(): void {
  const file = '/proc/sys/net/ipv4/ip_forward'
  if (fs.readFileSync(file, 'utf8').trim() === '1') return
  const state = `${networkStateDir()}/ip_forward.before`
  if (!fs.existsSync(state)) fs.writeFileSync(state, '0\n')
  fs.writeFileSync(file, '1')
}

/**
 * The table's chains and shared rules; rewritten at every start (one transaction), so they always are the
 * ones in this file. The containers' own rules live in the chains `outbound` and `published`, untouched here.
 */
function sharedRules(): string {
  const t = `ip ${NAT_TABLE}`
  return `add table ${t}
add chain ${t} prerouting { type nat hook prerouting priority dstnat; policy accept; }
add chain ${t} output { type nat hook output priority -100; policy accept; }
add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }
add chain ${t} forward { type filter hook forward priority filter; policy accept; }
add chain ${t} published
add chain ${t} outbound
flush chain ${t} prerouting
flush chain ${t} output
flush chain ${t} postrouting
flush chain ${t} forward
add rule ${t} prerouting fib daddr type local jump published
add rule ${t} output fib daddr type local jump published
add rule ${t} postrouting jump outbound
add rule ${t} postrouting oifname "${BRIDGE}" ip saddr 127.0.0.0/8 masquerade
add rule ${t} forward oifname "${BRIDGE}" ct state established,related accept
add rule ${t} forward oifname "${BRIDGE}" ct status dnat accept
add rule ${t} forward oifname "${BRIDGE}" iifname "${BRIDGE}" accept
add rule ${t} forward oifname "${BRIDGE}" drop
`
}
