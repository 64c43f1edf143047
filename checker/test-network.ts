// A safe test network for engines that build bridges, veths and NAT rules (step 08 on): two fresh network
// namespaces made for one run, and nothing else.
//
//   "the host" (the engine runs here)                          "the outside"
//   ┌──────────────────────────────────────────┐               ┌─────────────────────────────────┐
//   │ lo                                       │               │ lo  198.51.100.10 (a server)    │
//   │ mc0, vethXXXX ... (made by the engine)   │               │                                 │
//   │ up0 203.0.113.2/24 ──────────────────────┼─── veth ──────┼─ wan0 203.0.113.1/24            │
//   │ default via 203.0.113.1                  │               │ 10.99.0.0/24 via 203.0.113.2    │
//   │ its own firewall, sysctls, conntrack     │               │ no other interface, no route on │
//   └──────────────────────────────────────────┘               └─────────────────────────────────┘
//
// Each namespace is held by an agent process (test-network-agent.ts, started by `unshare --net`) that also serves and
// opens connections in it. When the agents exit (at close(), or when the checker dies: their stdin ends) the
// namespaces and everything in them (bridge, veths, rules, sysctls) are gone. No interface of the network is
// connected to a real one, and every address is a documentation address (RFC 5737) or the engine's subnet:
// a packet of the network cannot leave it.
//
// Engines run in "the host" through `nsenter --net=/proc/<host agent>/ns/net` (only the network namespace:
// the engine's cgroups and mounts are the machine's, as always) with a network state folder of the test network's
// own (MINICONTAINER_NET_DIR: its leases and lock); the rootfs, images and the rest of MINICONTAINER_HOME are the
// machine's, as always.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { NAT_TABLE, SUBNET } from '../lib/net/defaults.ts'
import { ipToNumber, parseSubnet } from '../lib/net/ipv4.ts'
import { inNetworkNamespaceOf } from '../lib/net/netlink.ts'
import { AF_INET, SOCK_CLOEXEC, SOCK_STREAM, bindIPv4, close, socket } from '../lib/libc.ts'
import { connectionsOf, type Connection } from './conntrack.ts'

export const TEST_NET = {
  /** "The host"'s interface to the outside, and its address there. */
  uplink: 'up0',
  hostAddress: '203.0.113.2',
  /** The outside's end of the cable: the host's default gateway. */
  outsideAddress: '203.0.113.1',
  /** A server's address in the outside, one hop beyond the host (like anything on the internet). */
  serverAddress: '198.51.100.10',
} as const

const AGENT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'test-network-agent.ts')

interface Reply {
  id?: number
  ok: boolean
  error?: string
  data?: string
  peers?: string[]
  ready?: boolean
  pid?: number
}

/** A process holding one namespace of the network; serves and connects inside it. */
export class Agent {
  readonly role: string
  readonly pid: number
  /** e.g. "net:[4026532252]", to tell a live agent from a process that got its PID later. */
  readonly netnsId: string
  readonly #child: ChildProcessWithoutNullStreams
  readonly #pending = new Map<number, (reply: Reply) => void>()
  #nextId = 1

  private constructor(role: string, child: ChildProcessWithoutNullStreams, pid: number, netnsId: string, lines: readline.Interface) {
    this.role = role
    this.#child = child
    this.pid = pid
    this.netnsId = netnsId
    lines.on('line', (line) => {
      const reply = JSON.parse(line) as Reply
      if (reply.id !== undefined) this.#pending.get(reply.id)?.(reply)
      this.#pending.delete(reply.id!)
    })
  }

  static async start(role: string): Promise<Agent> {
    const child = spawn('unshare', ['--net', '--', process.execPath, AGENT], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString('utf8')))
    const lines = readline.createInterface({ input: child.stdout })
    const ready = await new Promise<Reply>((resolve, reject) => {
      lines.once('line', (line) => resolve(JSON.parse(line) as Reply))
      child.once('exit', (code) => reject(new Error(`the test network's ${role} agent exited (${code}) before it was ready: ${stderr.trim()}`)))
      child.once('error', reject)
    })
    const pid = ready.pid!
    const netnsId = fs.readlinkSync(`/proc/${pid}/ns/net`)
    // The one property everything rests on: the agent is NOT in the real host's network namespace.
    if (pid !== child.pid || netnsId === fs.readlinkSync('/proc/self/ns/net')) {
      child.kill('SIGKILL')
      throw new Error(`the test network's ${role} agent is not in a network namespace of its own (pid ${pid}, ${netnsId}): refusing to go on`)
    }
    return new Agent(role, child, pid, netnsId, lines)
  }

  /** The agent's PID, to reach its namespace through /proc/PID/ns/net, after making sure it still holds it. */
  get netnsPid(): number {
    void this.netnsPath
    return this.pid
  }

  /** The namespace as a path for nsenter/setns, after making sure the agent still holds it. */
  get netnsPath(): string {
    const file = `/proc/${this.pid}/ns/net`
    let now: string | undefined
    try {
      now = fs.readlinkSync(file)
    } catch {
      // gone
    }
    if (now !== this.netnsId) throw new Error(`the test network's ${this.role} namespace is gone (agent pid ${this.pid} exited): refusing to run anything`)
    return file
  }

  /** argv that runs `argv` inside this namespace (network namespace only). */
  wrap(argv: string[]): string[] {
    return ['nsenter', `--net=${this.netnsPath}`, '--', ...argv]
  }

  /** Runs a program inside, synchronously; throws with its stderr if it fails. */
  exec(argv: string[], input?: string): string {
    const [file, ...args] = this.wrap(argv)
    const r = spawnSync(file!, args, { input, encoding: 'utf8' })
    if (r.error || r.status !== 0) throw new Error(`in the test network's ${this.role}: ${argv.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`)
    return r.stdout
  }

  async #request(command: Record<string, unknown>): Promise<Reply> {
    const id = this.#nextId++
    const reply = new Promise<Reply>((resolve) => this.#pending.set(id, resolve))
    this.#child.stdin.write(JSON.stringify({ id, ...command }) + '\n')
    return reply
  }

  /** A TCP server at host:port; every client gets "peer=<its address as seen here>". */
  async listen(host: string, port: number): Promise<void> {
    const r = await this.#request({ op: 'listen', host, port })
    if (!r.ok) throw new Error(`the test network's ${this.role}: listen on ${host}:${port}: ${r.error}`)
  }

  /** The client addresses the server on `port` saw, in order. */
  async peers(port: number): Promise<string[]> {
    return (await this.#request({ op: 'peers', port })).peers ?? []
  }

  /** Connects to host:port, sends `send`, returns what came back before the server closed (or the error). */
  async connect(
    host: string, port: number, options: { send?: string; timeoutMs?: number } = {},
  ): Promise<{ ok: boolean; data: string; error?: string }> {
    const r = await this.#request({ op: 'connect', host, port, send: options.send ?? '', timeoutMs: options.timeoutMs ?? 3000 })
    return { ok: r.ok, data: r.data ?? '', error: r.error }
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()))
    this.#child.stdin.end()
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 2000)
    await exited
    clearTimeout(timer)
  }
}

export interface TestNetworkLeftovers {
  /** Links in the test network's host other than lo, the uplink and the bridge. */
  links: string[]
  /** Lease files in the test network's state folder. */
  leases: string[]
  /** Firewall lines that name a container address (any address of the subnet but the network and gateway). */
  rules: string[]
}

export class TestNetwork {
  readonly host: Agent
  readonly outside: Agent
  /** The network state (leases, lock) of the engines that run here: MINICONTAINER_NET_DIR. */
  readonly stateDir: string
  readonly #forwards: net.Server[] = []
  readonly #forwarded = new Set<net.Socket>()

  private constructor(host: Agent, outside: Agent, stateDir: string) {
    this.host = host
    this.outside = outside
    this.stateDir = stateDir
  }

  static async create(): Promise<TestNetwork> {
    const [host, outside] = await Promise.all([Agent.start('host'), Agent.start('outside')])
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-testnet-'))
    const network = new TestNetwork(host, outside, stateDir)
    try {
      // The cable between the two, made inside the host namespace with its other end put straight into the
      // outside one (never in the real host's namespace, not even for a moment).
      // A new network namespace copies its IPv4 settings from the machine's (net.core.devconf_inherit_init_net 0):
      // a machine that forwards (a VM's NAT network, docker) would hand ip_forward=1 to "the host". Start it as a
      // fresh host starts, not forwarding: the engine must turn it on, and net:reset must put 0 back.
      host.exec(['sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_forward'])
      host.exec(['ip', '-batch', '-'], [
        'link set lo up',
        `link add ${TEST_NET.uplink} type veth peer name wan0 netns ${outside.pid}`,
        `address add ${TEST_NET.hostAddress}/24 dev ${TEST_NET.uplink}`,
        `link set ${TEST_NET.uplink} up`,
        `route add default via ${TEST_NET.outsideAddress}`,
      ].join('\n') + '\n')
      outside.exec(['ip', '-batch', '-'], [
        'link set lo up',
        `address add ${TEST_NET.outsideAddress}/24 dev wan0`,
        'link set wan0 up',
        `address add ${TEST_NET.serverAddress}/32 dev lo`,
        // A way back to the containers' own addresses: so a container that reaches the outside WITHOUT being
        // masqueraded shows up here with its own address (a clear failure) instead of timing out.
        `route add ${SUBNET} via ${TEST_NET.hostAddress}`,
      ].join('\n') + '\n')
    } catch (error) {
      await network.close()
      throw error
    }
    return network
  }

  /** argv running `argv` in the test network's host; use with env(). */
  wrap(argv: string[]): string[] {
    return this.host.wrap(argv)
  }

  /** The environment for engines in this test network: their own leases. */
  env(): Record<string, string> {
    return { MINICONTAINER_NET_DIR: this.stateDir }
  }

  /** What containers left in the test network's host: should be nothing once they all exited. */
  leftovers(): TestNetworkLeftovers {
    const links = (JSON.parse(this.host.exec(['ip', '-j', 'link', 'show'])) as { ifname: string }[])
      .map((l) => l.ifname)
      .filter((name) => !['lo', TEST_NET.uplink, 'mc0'].includes(name))
    let leases: string[] = []
    try {
      leases = fs.readdirSync(path.join(this.stateDir, 'leases'))
    } catch {
      // none made yet
    }
    return { links, leases, rules: rulesNaming(this.host.exec(['nft', 'list', 'ruleset'])) }
  }

  /** The leases (addresses) still held in the name of one of these engine pids. */
  leasesOf(pids: Set<number>): string[] {
    return this.leftovers().leases.filter((address) => {
      try {
        return pids.has((JSON.parse(fs.readFileSync(path.join(this.stateDir, 'leases', address), 'utf8')) as { pid: number }).pid)
      } catch {
        return false
      }
    })
  }

  /** The network's host's nft ruleset (for messages). */
  ruleset(): string {
    return this.host.exec(['nft', 'list', 'ruleset'])
  }

  /** The kernel's connection-tracking table of the test network's host: each connection before and after NAT. */
  conntrack(): Connection[] {
    return connectionsOf(this.host.netnsPid)
  }

  /**
   * Makes the REAL host's 127.0.0.1:`port` (TCP) answer at 127.0.0.1:`port` in the test network's host too: a server
   * the checker or a test started on the machine's loopback (step 09's registry and its token server) is then
   * reachable from engines that run here, at the same address (so URLs that name it, such as a token realm, stay
   * right). The listening socket is made in the test host's namespace (the checker's thread enters it for that one
   * call), the connections to the real loopback are the checker's own: nothing but loopback on either side, and it
   * goes with close(). Containers on the bridge cannot use it: 127.0.0.1 is their own loopback.
   */
  async forwardLoopback(port: number): Promise<void> {
    const fd = inNetworkNamespaceOf(this.host.netnsPid, () => {
      const s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, 'socket(AF_INET, SOCK_STREAM)')
      try {
        bindIPv4(s, '127.0.0.1', port)
      } catch (error) {
        close(s)
        throw error
      }
      return s
    })
    const server = net.createServer((client) => {
      const upstream = net.connect(port, '127.0.0.1')
      for (const socket of [client, upstream]) {
        this.#forwarded.add(socket)
        socket.once('close', () => this.#forwarded.delete(socket))
      }
      client.pipe(upstream).pipe(client)
      client.on('error', () => upstream.destroy())
      upstream.on('error', () => client.destroy())
    })
    this.#forwards.push(server)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ fd }, () => resolve())
    })
  }

  async close(): Promise<void> {
    for (const socket of this.#forwarded) socket.destroy()
    await Promise.all(this.#forwards.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
    await Promise.all([this.host.stop(), this.outside.stop()])
    fs.rmSync(this.stateDir, { recursive: true, force: true })
  }
}

/** Lines of a ruleset that name a container's address: rules of a container that should be gone. */
export function rulesNaming(ruleset: string, address?: string): string[] {
  const subnet = parseSubnet(SUBNET)
  return ruleset.split('\n').map((l) => l.trim()).filter((line) => {
    for (const m of line.matchAll(/\b(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(\/\d+)?/g)) {
      if (m[2]) continue // a subnet, not a container
      if (address !== undefined ? m[1] === address : isContainerAddress(m[1]!, subnet)) return true
    }
    return false
  }).filter((line) => line.includes(NAT_TABLE) || !line.startsWith('table'))
}

function isContainerAddress(address: string, subnet: ReturnType<typeof parseSubnet>): boolean {
  const n = ipToNumber(address)
  return n > subnet.network + 1 && n < subnet.broadcast
}
