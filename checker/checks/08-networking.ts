// Step 08: a veth pair into a bridge on the host, an address and a default route, NAT out and published ports in.
// Every run happens in a test network (checker/test-network.ts): a namespace that plays the host, next to one that plays
// the outside world with a server in it. Judged by the kernel's own tables, read from the host side: the links,
// addresses, routes and ARP entries of the container's and the host's namespaces (`ip -j` through nsenter), the
// host's nft ruleset and connection tracking, and what the servers on either side saw.
import fs from 'node:fs'
import path from 'node:path'
import { BRIDGE, GATEWAY, SUBNET } from '../../lib/net/defaults.ts'
import { timeoutScale } from '../../lib/timeouts.ts'
import { ipToNumber, parseSubnet } from '../../lib/net/ipv4.ts'
import { fail, howItEnded, randomInt, requireFact, type Check, type CheckContext, type TodoId } from '../check.ts'
import { describeConnection, type Connection } from '../conntrack.ts'
import { ipv4Of, isUp, isVeth, linkNamed, readNetns, type Link, type NetnsFacts } from '../netns-facts.ts'
import { PAUSE } from '../probe.ts'
import { randomToken } from '../random.ts'
import type { RunResult } from '../runner.ts'
import { TEST_NET, type TestNetwork } from '../test-network.ts'

const TODO = { address: '08.1', pair: '08.2', move: '08.3', inside: '08.4', nat: '08.5' } as const

/** How long a client waits for an answer, in whole seconds, longer on slow machines (MINICONTAINER_TIMEOUT_SCALE). */
const waitSeconds = (seconds: number): number => Math.ceil(seconds * Math.max(1, timeoutScale()))

/** The container's eth0 address as it sees it ("10.99.0.2/24"), then whether it reaches the gateway and the outside. */
function probeScript(serverPort: number): string {
  return [
    `echo "@mc addr=$(ip -4 addr show eth0 2>/dev/null | sed -n 's/.*inet \\([0-9.]*\\/[0-9]*\\).*/\\1/p')"`,
    `ping -c 1 -W ${waitSeconds(2)} ${GATEWAY} >/dev/null 2>&1; echo "@mc gateway=$?"`,
    `echo "@mc outside=$(echo x | nc -w ${waitSeconds(3)} ${TEST_NET.serverAddress} ${serverPort} 2>&1 | tr '\\n' ' ')"`,
    PAUSE,
  ].join('; ')
}

/** A rule of the host's nft ruleset (its chain and handle identify it for good) that names a container's address. */
interface RuleRef {
  chain: string
  handle: number
  comment: string | undefined
}

interface During {
  pid: number
  enginePid: number
  inside: NetnsFacts
  host: NetnsFacts
  /** The container's eth0 address, without the prefix (from the kernel, not the probe). */
  address: string | undefined
  /** The host end of the container's pair (its peer on the host's side), if there is one. */
  hostEnd: Link | undefined
  rules: RuleRef[]
  /** The lease files of the test network's host while the container ran. */
  leases: string[]
}

interface NetworkProbe {
  run: RunResult
  serverPort: number
  during: During | undefined
  /** What the outside server saw connect. */
  peers: string[]
  conntrack: Connection[]
  /** After the engine exited: what is still there of what was the container's. */
  after: { hostEnd: boolean; lease: boolean; rules: RuleRef[] } | undefined
}

function testNetwork(ctx: CheckContext): TestNetwork {
  if (!ctx.network) throw new Error('the step 08 checks run only in a test network (checker/test-network.ts)')
  return ctx.network
}

/** The rules of the test network host's table that name `address` (as a match or a NAT target). */
function rulesNaming(w: TestNetwork, address: string): RuleRef[] {
  let items: Record<string, unknown>[] = []
  try {
    items = (JSON.parse(w.host.exec(['nft', '-j', '-a', 'list', 'ruleset'])) as { nftables: Record<string, unknown>[] }).nftables
  } catch {
    return []
  }
  return items
    .filter((item) => 'rule' in item)
    .map((item) => item.rule as { chain: string; handle: number; comment?: string; expr: unknown })
    .filter((rule) => JSON.stringify(rule.expr).includes(`"${address}"`))
    .map((rule) => ({ chain: rule.chain, handle: rule.handle, comment: rule.comment }))
}

function leaseFiles(w: TestNetwork): string[] {
  try {
    return fs.readdirSync(path.join(w.stateDir, 'leases'))
  } catch {
    return []
  }
}

/** The lease of `address` if it is still held by the engine `pid`. */
function leaseHeldBy(w: TestNetwork, address: string, pid: number): boolean {
  try {
    return (JSON.parse(fs.readFileSync(path.join(w.stateDir, 'leases', address), 'utf8')) as { pid: number }).pid === pid
  } catch {
    return false
  }
}

/** What the container's and the host's namespaces hold while the container runs. */
function observe(w: TestNetwork, pid: number, enginePid: number): During {
  const inside = readNetns(`/proc/${pid}/ns/net`)
  const host = readNetns(w.host.netnsPath)
  const eth0 = linkNamed(inside, 'eth0')
  const address = ipv4Of(inside, 'eth0')[0]?.split('/')[0]
  const hostEnd = eth0?.link_index !== undefined ? host.links.find((l) => l.ifindex === eth0.link_index) : undefined
  return { pid, enginePid, inside, host, address, hostEnd, rules: address ? rulesNaming(w, address) : [], leases: leaseFiles(w) }
}

const probes = new WeakMap<TestNetwork, Promise<NetworkProbe>>()

/** One container of the session, judged by several checks: made once per test network. */
function networkProbe(ctx: CheckContext): Promise<NetworkProbe> {
  const w = testNetwork(ctx)
  let probe = probes.get(w)
  if (!probe) {
    probe = (async () => {
      const serverPort = randomInt(7000, 7999)
      await w.outside.listen(TEST_NET.serverAddress, serverPort)
      let during: During | undefined
      const run = await ctx.run({
        script: probeScript(serverPort),
        onReady: ({ pid, rootPid }) => void (pid !== undefined && (during = observe(w, pid, rootPid))),
      })
      const peers = await w.outside.peers(serverPort)
      const conntrack = w.conntrack()
      let after: NetworkProbe['after']
      if (during?.address) {
        const links = readNetns(w.host.netnsPath).links
        after = {
          hostEnd: during.hostEnd !== undefined && links.some((l) => l.ifname === during!.hostEnd!.ifname),
          lease: leaseHeldBy(w, during.address, during.enginePid),
          rules: rulesNaming(w, during.address).filter((r) => during!.rules.some((x) => x.chain === r.chain && x.handle === r.handle)),
        }
      }
      return { run, serverPort, during, peers, conntrack, after }
    })()
    probes.set(w, probe)
  }
  return probe
}

/** The engine failed before its container ran: point at the TODO its error names. */
function todoFromError(stderr: string): TodoId | undefined {
  if (/no free address|lease/i.test(stderr)) return TODO.address
  if (/has no eth0|RTM_NEWLINK peer|after moveIntoContainer/.test(stderr)) return TODO.move
  if (/type veth|master mc0|RTM_NEWLINK veth|no veth pair/.test(stderr)) return TODO.pair
  if (/RTM_NEWADDR .* dev eth0|RTM_NEWROUTE|RTM_NEWLINK eth0/.test(stderr)) return TODO.inside
  if (/nft refused|NAT rules/.test(stderr)) return TODO.nat
  return undefined
}

/** The run reached its pause and the host saw the container: else nothing of its network can be judged. */
function requireDuring(p: NetworkProbe): During {
  if (p.run.readyError) throw p.run.readyError
  if (!p.run.sawReady || !p.during) {
    fail('the container to start in the test network and run its probe', `${howItEnded(p.run)}: ${p.run.stderr.trim().split('\n').slice(0, 2).join(' ') || 'no error printed'}`, p.run, todoFromError(p.run.stderr))
  }
  return p.during
}

/**
 * The first TODO on the container's way to a working eth0 that the kernel's tables show undone: no lease (no
 * address chosen, so the engine connects nothing), no veth (no pair), the end not moved in as eth0, no address.
 */
function missingTodo(inside: NetnsFacts, host: NetnsFacts, leases: string[]): TodoId | undefined {
  if (leases.length === 0) return TODO.address
  const eth0 = linkNamed(inside, 'eth0')
  if (!eth0) return host.links.some((l) => /^peer/.test(l.ifname)) || inside.links.some((l) => isVeth(l)) ? TODO.move : TODO.pair
  if (ipv4Of(inside, 'eth0').length === 0 || !isUp(eth0)) return TODO.inside
  return undefined
}

function requireEth0(p: NetworkProbe, d: During): Link {
  const eth0 = linkNamed(d.inside, 'eth0')
  if (!eth0) {
    const names = d.inside.links.map((l) => l.ifname).join(', ')
    const strays = d.host.links.filter((l) => /^peer/.test(l.ifname)).map((l) => l.ifname)
    fail('an interface eth0 in the container\'s network namespace', `only ${names}` + (strays.length ? `; the host still has ${strays.join(', ')} (not moved into the container)` : d.leases.length === 0 ? '; the engine leased no address, so it connected nothing' : ''),
      p.run, missingTodo(d.inside, d.host, d.leases))
  }
  return eth0
}

function isContainerAddress(address: string): boolean {
  const subnet = parseSubnet(SUBNET)
  const n = ipToNumber(address)
  return n > subnet.network && n < subnet.broadcast && address !== GATEWAY
}

export const checks: Check[] = [
  {
    id: '08.veth',
    title: `eth0 is one end of a veth pair; the other end is on the host's bridge ${BRIDGE}, up`,
    why: 'a veth pair is the container\'s only cable: an end that is down or on no bridge carries nothing anywhere.',
    hint: TODO.pair,
    async run(ctx) {
      const p = await networkProbe(ctx)
      const d = requireDuring(p)
      const eth0 = requireEth0(p, d)
      if (!isVeth(eth0)) fail('eth0 to be a veth (ip -d link: "veth")', `a ${eth0.linkinfo?.info_kind ?? 'plain'} link`, p.run)
      const end = d.hostEnd
      if (!end || end.link_index !== eth0.ifindex) fail("the other end of eth0's pair in the host's network namespace", 'no such link on the host', p.run)
      if (end.master !== BRIDGE) fail(`the host's end (${end.ifname}) plugged into the bridge ${BRIDGE}`, end.master ? `it is on ${end.master}` : 'it is on no bridge', p.run)
      if (!isUp(end)) fail(`the host's end (${end.ifname}) up`, `it is down (flags ${end.flags.join(',')})`, p.run)
      ctx.note(`eth0 (index ${eth0.ifindex}) <-> ${end.ifname} (index ${end.ifindex}) on ${BRIDGE}`)
    },
  },
  {
    id: '08.eth0',
    title: 'the pair\'s other end was moved into the container\'s network namespace, by PID, as eth0',
    why: 'an interface lives in one network namespace at a time: the container gets it only if the host moves it there (and names it as programs expect).',
    hint: TODO.move,
    async run(ctx) {
      const p = await networkProbe(ctx)
      const d = requireDuring(p)
      const eth0 = requireEth0(p, d)
      if (!isVeth(eth0)) fail('eth0 to be the veth end the host moved in', `a ${eth0.linkinfo?.info_kind ?? 'plain'} link`, p.run)
      const strays = d.host.links.filter((l) => /^peer/.test(l.ifname))
      if (strays.some((l) => l.link_index === d.hostEnd?.ifindex)) fail("nothing of the container's pair but its host end on the host", `${strays.map((l) => l.ifname).join(', ')} too`, p.run)
      if (d.inside.links.some((l) => l.ifname !== 'eth0' && l.ifname !== 'lo')) {
        fail('lo and eth0 only, in the container', d.inside.links.map((l) => l.ifname).join(', '), p.run)
      }
    },
  },
  {
    id: '08.address',
    title: `eth0 has an address of its own from ${SUBNET} (not the network's, the gateway's or the broadcast)`,
    why: 'an address that is the gateway\'s or another interface\'s splits their packets between them; the network and broadcast addresses are never a host\'s.',
    hint: TODO.address,
    async run(ctx) {
      const p = await networkProbe(ctx)
      const d = requireDuring(p)
      requireEth0(p, d)
      const addresses = ipv4Of(d.inside, 'eth0')
      if (addresses.length === 0) fail(`an IPv4 address from ${SUBNET} on eth0`, 'none', p.run, missingTodo(d.inside, d.host, d.leases))
      const [address, prefix] = addresses[0]!.split('/')
      if (!isContainerAddress(address!)) fail(`an address of ${SUBNET} that is neither its first (the network), ${GATEWAY} (the bridge, the gateway) nor its last (broadcast)`, addresses[0]!, p.run)
      if (Number(prefix) !== parseSubnet(SUBNET).prefixLength) fail(`the subnet's prefix length /${parseSubnet(SUBNET).prefixLength} with it (it decides which addresses are neighbours on the bridge)`, `/${prefix}`, p.run, TODO.inside)
      const probe = requireFact(p.run, 'addr')
      if (probe !== addresses[0]) fail(`the container to see the same address (ip addr inside: ${addresses[0]})`, probe || 'none', p.run)
      ctx.note(`eth0 ${addresses[0]}`)
    },
  },
  {
    id: '08.neighbours',
    title: 'two containers at once get different addresses and reach each other over the bridge',
    why: 'containers talk to each other (an app and its database) over the bridge; two engines that start at the same moment must not pick one address.',
    hint: TODO.address,
    async run(ctx) {
      const w = testNetwork(ctx)
      const port = randomInt(9000, 9999)
      const token = randomToken('tok')
      ctx.mark(token)
      let second: RunResult | undefined
      const first: { address?: string; secondAddress?: string; missing?: TodoId } = {}
      const a = await ctx.run({
        script: `nc -lk -p ${port} -e echo ${token} & i=0; while ! netstat -ltn | grep -q ':${port} ' && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; ${PAUSE}`,
        onReady: async ({ pid }) => {
          if (pid === undefined) return
          const inside = readNetns(`/proc/${pid}/ns/net`)
          first.address = ipv4Of(inside, 'eth0')[0]?.split('/')[0]
          first.missing = missingTodo(inside, readNetns(w.host.netnsPath), leaseFiles(w))
          if (!first.address) return
          second = await ctx.run({
            script: `echo "@mc got=$(echo x | nc -w ${waitSeconds(3)} ${first.address} ${port} 2>&1 | tr '\\n' ' ')"; ${PAUSE}`,
            onReady: ({ pid: pid2 }) =>
              void (pid2 !== undefined && (first.secondAddress = ipv4Of(readNetns(`/proc/${pid2}/ns/net`), 'eth0')[0]?.split('/')[0])),
          })
        },
      })
      if (!a.sawReady) {
        fail('the first container to start in the test network', `${howItEnded(a)}: ${a.stderr.trim().split('\n')[0] ?? ''}`, a,
          todoFromError(a.stderr))
      }
      if (!first.address) fail('the first container to have an address on eth0', 'none', a, first.missing)
      if (!second?.sawReady) fail('a second container to start while the first runs', second ? `${howItEnded(second)}: ${second.stderr.trim().split('\n')[0] ?? ''}` : 'it never ran', second ?? a, second ? todoFromError(second.stderr) ?? TODO.address : TODO.address)
      if (!first.secondAddress) fail('the second container to have an address on eth0', 'none', second, TODO.inside)
      if (first.secondAddress === first.address) fail('two different addresses', `both have ${first.address}`, second)
      const got = requireFact(second, 'got').trim()
      if (got !== token) fail(`the second container (${first.secondAddress}) to reach a server in the first (${first.address}:${port}) and read its answer`, got || 'nothing', second, TODO.inside)
      ctx.note(`${first.address} <-> ${first.secondAddress}`)
    },
  },
  {
    id: '08.route',
    title: `eth0 is up with a default route via ${GATEWAY}, and the host answers there (ARP)`,
    why: 'without a default route the container reaches only its neighbours on the bridge; everything else goes to the host, which forwards it.',
    hint: TODO.inside,
    async run(ctx) {
      const p = await networkProbe(ctx)
      const d = requireDuring(p)
      const eth0 = requireEth0(p, d)
      if (!isUp(eth0)) fail('eth0 up in the container', `down (flags ${eth0.flags.join(',')})`, p.run)
      const route = d.inside.routes.find((r) => r.dst === 'default')
      if (!route) fail(`a default route via ${GATEWAY} in the container (ip route)`, `no default route: ${d.inside.routes.map((r) => r.dst).join(', ') || 'no route at all'}`, p.run)
      if (route.gateway !== GATEWAY || route.dev !== 'eth0') fail(`the default route via ${GATEWAY} dev eth0`, `via ${route.gateway ?? 'nothing'} dev ${route.dev ?? '?'}`, p.run)
      const ping = requireFact(p.run, 'gateway')
      if (ping !== '0') fail(`ping ${GATEWAY} to answer inside`, `status ${ping}`, p.run)
      // The host's ARP table: the bridge learned the container's address and MAC from its packets.
      const address = d.address!
      const neighbour = d.host.neighbours.find((n) => n.dst === address && n.dev === BRIDGE)
      if (!neighbour || neighbour.lladdr !== eth0.address) fail(`the host to know ${address} at eth0's MAC ${eth0.address} on ${BRIDGE} (ip neigh)`, neighbour ? `at ${neighbour.lladdr}` : 'no ARP entry', p.run)
    },
  },
  {
    id: '08.masquerade',
    title: 'a server in the outside world is reached, and sees the host\'s address, not the container\'s (masquerade, in conntrack)',
    why: 'the outside has a route to the host, not to a container\'s private address: without masquerading the answers never come back (on the internet), and the container\'s address leaks.',
    hint: TODO.nat,
    async run(ctx) {
      const p = await networkProbe(ctx)
      const d = requireDuring(p)
      requireEth0(p, d)
      const address = d.address
      const outside = requireFact(p.run, 'outside').trim()
      if (p.peers.length === 0) {
        const route = d.inside.routes.some((r) => r.dst === 'default')
        fail(`the container to reach ${TEST_NET.serverAddress}:${p.serverPort} in the outside world`, `nothing arrived there (the container got: ${outside || 'nothing'})`, p.run, missingTodo(d.inside, d.host, d.leases) ?? (route ? TODO.nat : TODO.inside))
      }
      if (p.peers.some((peer) => peer === address)) fail(`the server to see the host's address ${TEST_NET.hostAddress}`, `it saw the container's own ${address}: its packets left the host unmasqueraded`, p.run)
      if (!p.peers.includes(TEST_NET.hostAddress)) fail(`the server to see the host's address ${TEST_NET.hostAddress}`, `it saw ${p.peers.join(', ')}`, p.run)
      const tracked = p.conntrack.find((c) =>
        c.original.src === address && c.original.dst === TEST_NET.serverAddress && c.original.dport === p.serverPort)
      if (!tracked || tracked.reply.src !== TEST_NET.serverAddress || tracked.reply.dst !== TEST_NET.hostAddress) {
        fail(`the host's connection tracking to show ${address} -> ${TEST_NET.serverAddress}:${p.serverPort}, answered to ${TEST_NET.hostAddress}`, tracked ? describeConnection(tracked) : 'no such connection', p.run)
      }
      ctx.note(describeConnection(tracked))
    },
  },
  {
    id: '08.publish',
    title: '--publish HOST:CONTAINER (random ports): the host itself (127.0.0.1 and its own address) and the outside reach a server in the container',
    why: 'a server in a container is reachable only through an address the others know: the host\'s. That is what `docker run -p` does, with DNAT rules.',
    hint: TODO.nat,
    async run(ctx) {
      const w = testNetwork(ctx)
      const hostPort = randomInt(20_000, 39_999)
      const containerPort = randomInt(1024, 6999)
      const token = randomToken('tok')
      ctx.mark(token)
      const results: string[] = []
      let missing: TodoId | undefined
      const r = await ctx.run({
        flags: ['--publish', `${hostPort}:${containerPort}`],
        script: `nc -lk -p ${containerPort} -e echo ${token} & i=0; while ! netstat -ltn | grep -q ':${containerPort} ' && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; ${PAUSE}`,
        onReady: async ({ pid }) => {
          if (pid !== undefined) missing = missingTodo(readNetns(`/proc/${pid}/ns/net`), readNetns(w.host.netnsPath), leaseFiles(w))
          for (const [who, agent, target] of [
            ['the host, to 127.0.0.1', w.host, '127.0.0.1'],
            [`the host, to its own ${TEST_NET.hostAddress}`, w.host, TEST_NET.hostAddress],
            [`the outside, to the host's ${TEST_NET.hostAddress}`, w.outside, TEST_NET.hostAddress],
          ] as const) {
            const c = await agent.connect(target, hostPort, { timeoutMs: waitSeconds(3) * 1000 })
            if (c.data.trim() !== token) results.push(`${who}:${hostPort} got ${c.data.trim() || c.error || 'nothing'}`)
          }
        },
      })
      if (!r.sawReady) {
        fail('the container to start with --publish', `${howItEnded(r)}: ${r.stderr.trim().split('\n')[0] ?? ''}`, r,
          todoFromError(r.stderr))
      }
      if (results.length) fail(`the container's server (port ${containerPort}) to answer ${token} through host port ${hostPort}`, results.join('; '), r, missing)
    },
  },
  {
    id: '08.cleanup',
    title: 'when the container exits, its veth, its address lease and its NAT rules are gone from the host',
    why: 'a veth, a lease or a rule left behind with every run piles up, and the next container given that address would inherit its rules.',
    hint: TODO.nat,
    async run(ctx) {
      const p = await networkProbe(ctx)
      const d = requireDuring(p)
      requireEth0(p, d)
      if (!p.after) fail('the container to have had an address', 'none', p.run, TODO.address)
      if (p.after.hostEnd) fail(`the host end of its pair (${d.hostEnd!.ifname}) deleted`, 'it is still on the host', p.run, TODO.pair)
      if (p.after.lease) fail(`its lease (${d.address}) released`, 'the lease file is still there', p.run)
      if (p.after.rules.length) fail(`its NAT rules (those naming ${d.address}) deleted`, `${p.after.rules.length} still there (chains ${[...new Set(p.after.rules.map((x) => x.chain))].join(', ')}; comments: ${p.after.rules.map((x) => JSON.stringify(x.comment ?? null)).join(', ')})`, p.run)
      if (d.rules.length === 0) fail(`NAT rules naming ${d.address} while it ran`, 'none', p.run)
    },
  },
]
