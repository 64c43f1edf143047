// @file-since 08-networking
// Step 08: a network for the container, built from the host side the way docker's bridge driver and the CNI
// bridge plugin build one: a cable (a veth pair) from the container to a switch on the host (a bridge), an
// address, a default route, and NAT on the host for the way out and for published ports.
//
//   container's network namespace           the host's network namespace (the engine)
//   ┌─────────────────────────────┐          ┌───────────────────────────────────────────────────┐
//   │ lo    127.0.0.1             │          │                     nft table ip minicontainer:   │
//   │ eth0  10.99.0.2/24  ────────┼── veth ──┼─ vethXXXXXXXX ─┐      out: masquerade             │
//   │ default via 10.99.0.1       │   pair   │                ├─ mc0 10.99.0.1/24 (bridge)      │
//   └─────────────────────────────┘          │ another veth ──┘      in: DNAT published ports    │
//                                            │ eth0 (the host's own) ── the world                │
//                                            └───────────────────────────────────────────────────┘
//
// Links, addresses and routes go through rtnetlink, the kernel's own interface for them (lib/net/netlink.ts;
// `ip` from iproute2 speaks the same messages). The NAT rules go through the `nft` program (lib/net/nft.ts).
import fs from 'node:fs'
import type { Publish } from '../../lib/cli.ts'
import { FriendlyError } from '../../lib/errors.ts'
import { BRIDGE, GATEWAY, NAT_TABLE, SUBNET } from '../../lib/net/defaults.ts'
import { macForAddress, numberToIp, parseSubnet } from '../../lib/net/ipv4.ts'
import {
  isHeld, lockFile, networkStateDir, processStartTime, readLeases, removeLease, writeLease, type Lease,
} from '../../lib/net/leases.ts'
import { withFileLock } from '../../lib/net/lock.ts'
import { RouteSocket } from '../../lib/net/netlink.ts'
import { deleteRulesWithComment, nft } from '../../lib/net/nft.ts'
import { portInUse } from '../../lib/net/ports.ts'

export { BRIDGE, GATEWAY, NAT_TABLE, SUBNET }

/** The name the container's end of the pair has on the host, until it is moved and renamed eth0. */
export function peerName(lease: Lease): string {
  return lease.veth.replace(/^veth/, 'peer')
}

/**
 * Host side, before init exists: the bridge (made once, then reused), an address of the container's own (its
 * lease) and its published ports checked, all under the network lock: two engines starting at the same moment
 * take turns. Returns undefined while chooseAddress() has no answer yet: the container then has no network.
 */
export function reserveNetwork(publish: Publish[]): Lease | undefined {
  return withFileLock(lockFile(), () => {
    removeStaleLeases()
    ensureBridge()
    const leases = readLeases()
    for (const p of publish) assertPortFree(p, leases)
    const address = chooseAddress(new Set(leases.map((l) => l.address)))
    if (address === undefined) return undefined
    const id = Math.random().toString(16).slice(2, 10).padEnd(8, '0')
    const lease: Lease = {
      address, pid: process.pid, startTime: processStartTime('self')!, veth: `veth${id}`, tag: `minicontainer ${id}`, publish,
    }
    writeLease(lease)
    return lease
  })
}

/** The container's address: free in SUBNET, given the addresses `taken` by the leases of running containers. */
export function chooseAddress(taken: Set<string>): string | undefined {
  // @todo 08-networking
  // TODO(08.1): Choose the container's address: the lowest address of SUBNET that no container holds. Some
  //   addresses of a subnet are never a container's: which, and why? (`taken` has the running containers'.)
  //   If none is left, fail with a FriendlyError that says so and what to do, rather than hand out a taken one.
  //   Why: two interfaces with one address on one network each get some of the other's packets. The caller
  //   holds the network lock, so two engines starting at once cannot both choose the same address.
  //   lib/net/ipv4.ts turns addresses and subnets into numbers and back.
  //   Lesson: "1. An address of its own".
  // @starter
  // return undefined // no address yet: the container gets no network
  // @solution
  const subnet = parseSubnet(SUBNET)
  for (let n = subnet.network + 1; n < subnet.broadcast; n++) {
    const address = numberToIp(n)
    if (address !== GATEWAY && !taken.has(address)) return address
  }
  throw new FriendlyError(`no free address left in ${SUBNET}: ${taken.size} containers hold one`, {
    hint: `stop a container (leases of engines that no longer run are removed at the next start: ${networkStateDir()}/leases)`,
  })
  // @end
}

/**
 * Host side, while init waits in its new network namespace (it paused right after making it): the veth pair,
 * its container end moved in and configured, then the container's NAT rules.
 */
export function connectContainer(pid: number, lease: Lease): void {
  const host = new RouteSocket()
  try {
    createVethPair(host, lease)
    moveIntoContainer(host, lease, pid)
  } finally {
    host.close()
  }
  // A socket made inside the container's network namespace: what is sent on it acts in there.
  const inside = RouteSocket.inNamespaceOf(pid)
  try {
    configureInside(inside, lease)
  } finally {
    inside.close()
  }
  const rules = natRules(lease)
  if (rules.trim()) addRules(rules, lease)
}

/** The cable: both ends on the host for now; one of them plugged into the bridge. */
export function createVethPair(host: RouteSocket, lease: Lease): void {
  // @todo 08-networking
  // TODO(08.2): Make the cable and plug the host's end in: a veth pair, its host end named as the lease says,
  //   its other end under a temporary name of its own (peerName), and that other end's MAC address the one
  //   that follows from the container's IP address (why: lesson section 1). Then the host end joins the
  //   bridge and comes up: a veth end that is down, or on no bridge, carries nothing anywhere.
  //   Why: a frame sent into one end of a veth pair comes out of the other; on the bridge it meets the host
  //   and every other container. The methods of RouteSocket (lib/net/netlink.ts) send the rtnetlink messages.
  //   Lesson: "2. A cable: the veth pair". See man 4 veth.
  // @solution
  host.createVethPair(lease.veth, peerName(lease), { peerMac: macForAddress(lease.address) })
  host.setLink(lease.veth, { master: BRIDGE, up: true })
  // @end
  const missing = [lease.veth, peerName(lease)].filter((name) => host.linkIndex(name) === undefined)
  if (missing.length) {
    throw new FriendlyError(`no veth pair on the host: ${missing.join(' and ')} missing after createVethPair()`, { hint: '`ip -br link` shows the links the host has', locate: true })
  }
}

/** The container's end goes into its network namespace, where it is called eth0. */
export function moveIntoContainer(host: RouteSocket, lease: Lease, pid: number): void {
  // @todo 08-networking
  // TODO(08.3): Move the other end of the pair into the network namespace of the container's init, and give
  //   it there the name every container's interface has. One RTM_NEWLINK message can do both.
  //   Why: an interface lives in exactly one network namespace. The container's has no name and no file of
  //   its own: the kernel finds it through a process in it. Why not name the end eth0 from the start?
  //   Lesson: "3. Into the container, by PID". See man 7 network_namespaces.
  // @solution
  host.setLink(peerName(lease), { netnsPid: pid, name: 'eth0' })
  // @end
  const inside = RouteSocket.inNamespaceOf(pid)
  const moved = inside.linkIndex('eth0') !== undefined
  inside.close()
  if (!moved) {
    throw new FriendlyError(`the container has no eth0 after moveIntoContainer()${host.linkIndex(peerName(lease)) !== undefined ? `: ${peerName(lease)} is still on the host` : ''}`, {
      hint: `\`sudo nsenter -t ${pid} -n ip link\` shows the container's interfaces`, locate: true,
    })
  }
}

/** Inside the container's network namespace (through `inside`, a socket made in there): eth0's address and the route. */
export function configureInside(inside: RouteSocket, lease: Lease): void {
  // @todo 08-networking
  // TODO(08.4): Make eth0 work inside the container: lease.address with the prefix length of SUBNET on it, the
  //   interface up, and a default route via GATEWAY (the bridge). In which order does the kernel accept them?
  //   Why: the address with its prefix gives the container a route to its neighbours on the bridge; the
  //   default route sends everything else to the host, which forwards it. `inside` acts in the container's
  //   namespace: the engine never enters it.
  //   Lesson: "4. The address and the route inside". See man 7 rtnetlink, ip-route(8).
  // @solution
  inside.addAddress('eth0', lease.address, parseSubnet(SUBNET).prefixLength)
  inside.setLink('eth0', { up: true })
  inside.addDefaultRoute(GATEWAY)
  // @end
}

/** The container's NAT rules, as one nft script, each rule commented with lease.tag. */
export function natRules(lease: Lease): string {
  // @todo 08-networking
  // TODO(08.5): Write the container's NAT rules as nft commands (one per line), for the chains of the table
  //   ip NAT_TABLE that sharedRules() makes:
  //   - chain `outbound`: packets from the container's address that leave the host by any interface but the
  //     bridge are masqueraded (their source becomes the host's address on the way out);
  //   - chain `published`: for each of lease.publish, packets to its host port (its protocol) are DNATed to
  //     the container's address and port.
  //   Put the comment lease.tag on every rule: when the container is gone, the engine deletes exactly the
  //   rules that carry it (and nothing of another container).
  //   Why: the outside world has no route back to 10.99.0.x; it has one to the host. And a port of the
  //   container can only be reached from outside through an address the outside knows: the host's.
  //   Lesson: "5. NAT: the way out and the way in". See man 8 nft (STATEMENTS: NAT).
  // @starter
  // return ''
  // @solution
  const lines = [`add rule ip ${NAT_TABLE} outbound ip saddr ${lease.address} oifname != "${BRIDGE}" masquerade comment "${lease.tag}"`]
  for (const p of lease.publish) {
    lines.push(`add rule ip ${NAT_TABLE} published ${p.protocol} dport ${p.hostPort} dnat to ${lease.address}:${p.containerPort} comment "${lease.tag}"`)
  }
  return lines.join('\n') + '\n'
  // @end
}

/** Host side, when the container is over, whatever happened: its veth, its rules, its lease. */
export function releaseNetwork(lease: Lease): void {
  withFileLock(lockFile(), () => releaseLease(lease))
}

// ---- Plumbing given to the learner ---------------------------------------------------------------------

function releaseLease(lease: Lease): void {
  if (lease.veth) {
    const host = new RouteSocket()
    try {
      host.deleteLink(lease.veth) // one end deleted deletes both; gone already if the namespace went first
      host.deleteLink(peerName(lease)) // never moved (the container stopped halfway)
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
  const holder = leases.find((l) => isHeld(l) && l.publish.some((q) => q.hostPort === p.hostPort && q.protocol === p.protocol))
  if (holder) {
    throw new FriendlyError(`port ${p.hostPort}/${p.protocol} is already published by the container at ${holder.address} (engine pid ${holder.pid})`, { hint: 'publish another host port, or stop that container' })
  }
  const read = (file: string): string | undefined => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined)
  if (portInUse(p.hostPort, p.protocol, read)) {
    throw new FriendlyError(`port ${p.hostPort}/${p.protocol} is in use by a program on the host`, { hint: `choose another host port (\`ss -lntup\` shows who has ${p.hostPort})` })
  }
}

/**
 * The bridge with the gateway's address, forwarding on, and the table with the rules all containers share: made
 * by the first engine (after `npm run net:reset` too), checked by every later one.
 */
function ensureBridge(): void {
  const host = new RouteSocket()
  let created = false
  try {
    // A MAC of its own: a bridge without one takes the lowest of its ports', which changes as containers come and go.
    if (host.linkIndex(BRIDGE) === undefined) {
      host.createBridge(BRIDGE, macForAddress(GATEWAY))
      created = true
    }
    host.addAddress(BRIDGE, GATEWAY, parseSubnet(SUBNET).prefixLength, { replace: true })
    host.setLink(BRIDGE, { up: true })
  } finally {
    host.close()
  }
  enableForwarding()
  // The host itself connecting to 127.0.0.1:PORT is DNATed to a container: such a packet leaves through the
  // bridge with the source 127.0.0.1, which the kernel drops as "martian" unless route_localnet allows it on
  // that interface (docker sets the same on docker0 when it runs without its userland proxy).
  fs.writeFileSync(`/proc/sys/net/ipv4/conf/${BRIDGE}/route_localnet`, '1')
  if (created) nft(sharedRules(), `the nft table ip ${NAT_TABLE}`)
}

/** The container's rules into the table; the table first if it went missing (`nft flush ruleset`, say). */
function addRules(rules: string, lease: Lease): void {
  const what = `the NAT rules of the container at ${lease.address}`
  try {
    nft(rules, what)
  } catch (error) {
    if (!/No such file or directory/.test((error as Error).message)) throw error
    try {
      nft(sharedRules() + rules, what)
    } catch {
      throw error // the learner's own lines, as nft numbered them the first time
    }
  }
}

/** The host routes packets between its interfaces only with ip_forward on; remembers if it was off (net:reset). */
function enableForwarding(): void {
  const file = '/proc/sys/net/ipv4/ip_forward'
  if (fs.readFileSync(file, 'utf8').trim() === '1') return
  const saved = `${networkStateDir()}/ip_forward.before`
  if (!fs.existsSync(saved)) fs.writeFileSync(saved, '0\n')
  fs.writeFileSync(file, '1')
}

/**
 * The table's chains and the rules every container shares, in one transaction that can run again at any time (the
 * base chains are flushed and refilled). The containers' own rules (natRules) live in `outbound` and `published`.
 */
function sharedRules(): string {
  const t = `ip ${NAT_TABLE}`
  return [
    `add table ${t}`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add chain ${t} output { type nat hook output priority -100; policy accept; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    `add chain ${t} forward { type filter hook forward priority filter; policy accept; }`,
    `add chain ${t} published`,
    `add chain ${t} outbound`,
    ...['prerouting', 'output', 'postrouting', 'forward'].map((chain) => `flush chain ${t} ${chain}`),
    // Packets for one of the host's own addresses, from outside (prerouting) or from the host itself (output).
    `add rule ${t} prerouting fib daddr type local jump published`,
    `add rule ${t} output fib daddr type local jump published`,
    `add rule ${t} postrouting jump outbound`,
    // The host's own 127.0.0.1 connections DNATed into the bridge get the bridge's address as their source.
    `add rule ${t} postrouting oifname "${BRIDGE}" ip saddr 127.0.0.0/8 masquerade`,
    // From outside, only published ports reach a container (and the answers to its own connections).
    `add rule ${t} forward oifname "${BRIDGE}" ct state established,related accept`,
    `add rule ${t} forward oifname "${BRIDGE}" ct status dnat accept`,
    `add rule ${t} forward oifname "${BRIDGE}" iifname "${BRIDGE}" accept`,
    `add rule ${t} forward oifname "${BRIDGE}" drop`,
  ].join('\n') + '\n'
}
