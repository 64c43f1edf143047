// Step 04: a network namespace of its own, with only the loopback interface, brought up.
import { spawnSync } from 'node:child_process'
import { fail, requireFact, requireHost, requireLive, type Check } from '../check.ts'
import { readText } from '../proc.ts'
import { PAUSE, interfaces, type HostView } from '../probe.ts'

/**
 * The fallback tunnel devices the kernel puts into EVERY new network namespace when the module that makes them is
 * loaded (sit, ipip, ip6_tunnel, ip_gre, ip6_gre, ip_vti, ip6_vti) and net.core.fb_tunnels_only_for_init_net is 0:
 * down, without an address, harmless. A container engine cannot refuse them; the check must accept them.
 */
export const FALLBACK_TUNNELS = ['sit0', 'tunl0', 'ip6tnl0', 'gre0', 'gretap0', 'erspan0', 'ip6gre0', 'ip_vti0', 'ip6_vti0']

export interface LinkState {
  name: string
  up: boolean
  addresses: string[]
}

/** `ip -o link show` and `ip -o addr show` output -> each interface, whether it is up, its addresses. */
export function parseLinks(linkText: string, addrText: string): LinkState[] {
  const links = new Map<string, LinkState>()
  for (const line of linkText.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)(?:@\S+)?:\s+<([^>]*)>/.exec(line)
    if (m) links.set(m[1]!, { name: m[1]!, up: m[2]!.split(',').includes('UP'), addresses: [] })
  }
  for (const line of addrText.split('\n')) {
    const m = /^\d+:\s+(\S+)\s+inet6?\s+(\S+)/.exec(line)
    if (m) links.get(m[1]!.replace(/@.*/, ''))?.addresses.push(m[2]!)
  }
  return [...links.values()]
}

/** The interfaces of process `pid`'s network namespace, asked from the host with iproute2 (netlink). */
function linkStatesOf(pid: number): LinkState[] | string {
  const ip = (what: string): { text: string; error?: string } => {
    const r = spawnSync('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-o', what, 'show'], { encoding: 'utf8', timeout: 5000 })
    return r.status === 0 ? { text: r.stdout } : { text: '', error: r.error?.message ?? r.stderr.trim() }
  }
  const link = ip('link')
  const addr = ip('addr')
  return link.error ?? addr.error ?? parseLinks(link.text, addr.text)
}

/** lo can only be brought up in a network namespace of the container's own. */
const NETNS_HINT = '04.1'

function words(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean)
}

/**
 * The interfaces a container may have (besides the fallback tunnels): lo, and from step 08 on eth0 too, the veth end
 * the engine plugs in (08's checks judge whether it is there and what it is; here it only must be nothing of the host's).
 */
function allowedInterfaces(step: number): string[] {
  return step >= 8 ? ['lo', 'eth0'] : ['lo']
}

type NetworkView = { network: { host: { netnsId: string; exec(argv: string[]): string } } | undefined }

/** The interfaces of the host the engine ran in (lo aside): the real one, or from step 08 on the test network's "host". */
function hostInterfaces(ctx: NetworkView): string[] {
  if (!ctx.network) return interfaces(readText('/proc/net/dev')).filter((i) => i !== 'lo')
  return (JSON.parse(ctx.network.host.exec(['ip', '-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname).filter((i) => i !== 'lo')
}

/** The network namespace of the host the engine ran in. */
function hostNetns(ctx: NetworkView, h: HostView): string {
  return ctx.network ? ctx.network.host.netnsId : h.ns.net.host
}

export const checks: Check[] = [
  {
    id: '04.netns',
    title: 'a network namespace of its own: only lo exists (from step 08 on, lo and eth0)',
    why: "in the host's network namespace a container can listen on the host's ports, reach its private services and sniff its traffic.",
    hint: '04.1',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      const inside = words(requireFact(p.run, 'ifaces'))
      if (h.ns.net.inside === hostNetns(ctx, h)) fail("the container's network namespace (/proc/<pid>/ns/net) to differ from the host's", 'the same one', p.run)
      const own = allowedInterfaces(ctx.step.number)
      const extra = [...new Set([...inside, ...h.netDev])].filter((i) => !own.includes(i))
      const expected = inside.includes('lo') && h.netDev.includes('lo') && extra.every((i) => FALLBACK_TUNNELS.includes(i))
      if (!expected) fail(`only ${own.map((i) => `"${i}"`).join(' and ')} in /proc/net/dev (inside, and in /proc/<pid>/net/dev on the host), besides the kernel's fallback tunnel devices (sit0, tunl0...)`, `inside: ${inside.join(' ') || 'nothing'}; from the host: ${h.netDev.join(' ') || 'nothing'}`, p.run)
      if (extra.length === 0) return
      // Fallback tunnel devices: this host loaded tunnel modules. Accepted only down and without addresses, as
      // the kernel makes them; read from the host, in a run of its own (the shared probe has ended by now).
      let links = 'the container was not found on the host' as LinkState[] | string
      const r = await ctx.run({ script: PAUSE, onReady: ({ pid }) => void (pid !== undefined && (links = linkStatesOf(pid))) })
      requireLive(r)
      if (typeof links === 'string') fail(`to read the fallback tunnel devices (${extra.join(', ')}) of the container's namespace with \`nsenter --net=/proc/PID/ns/net ip -o link\``, links, r)
      const changed = links.filter((l) => !own.includes(l.name) && (l.up || l.addresses.length > 0 || !FALLBACK_TUNNELS.includes(l.name)))
      if (changed.length) fail('the fallback tunnel devices of the new namespace as the kernel made them: down, without an address', changed.map((l) => `${l.name} ${l.up ? 'UP' : 'down'} ${l.addresses.join(' ') || 'no address'}`).join('; '), r)
      ctx.note(`fallback tunnel devices in the new namespace (down, no address): ${extra.join(', ')}`)
    },
  },
  {
    id: '04.lo-up',
    title: 'lo is up: 127.0.0.1 answers inside',
    why: 'many programs talk to themselves over 127.0.0.1 (databases, language servers, health checks); a new network namespace starts with lo down.',
    hint: '04.2',
    async run(ctx) {
      const p = await ctx.shared()
      const h = requireHost(p)
      const ping = requireFact(p.run, 'ping')
      if (h.ns.net.inside === hostNetns(ctx, h)) fail("a network namespace of the container's own (where lo starts down)", "the host's network namespace", p.run, NETNS_HINT)
      if (ping !== '0') fail('ping -c 1 127.0.0.1 to succeed inside (status 0)', `status ${ping}`, p.run)
      if (!/127\.0\.0\.1/.test(h.fibTrie)) fail("127.0.0.1 among the local addresses of the container's network namespace (/proc/<pid>/net/fib_trie)", 'not there: lo is down', p.run)
    },
  },
  {
    id: '04.host-interfaces',
    title: "the host's interfaces are invisible inside",
    why: "seeing the host's interfaces means using them: the container would share the host's network stack.",
    hint: '04.1',
    async run(ctx) {
      // Fallback tunnel devices have the same names in every namespace: a container's own sit0 is not the host's.
      const hostIfaces = hostInterfaces(ctx).filter((i) => !FALLBACK_TUNNELS.includes(i))
      const p = await ctx.shared()
      const h = requireHost(p)
      const inside = words(requireFact(p.run, 'ifaces'))
      const seen = [...new Set([...inside, ...h.netDev])].filter((i) => hostIfaces.includes(i))
      if (seen.length) fail(`none of the host's interfaces (${hostIfaces.join(', ')}) inside`, `the container sees ${seen.join(', ')}`, p.run)
      if (hostIfaces.length === 0 && h.ns.net.inside === hostNetns(ctx, h)) {
        fail("a network namespace of the container's own", "the host's", p.run)
      }
    },
  },
]
