// Step 04: a network namespace of its own, with only the loopback interface, brought up.
import { fail, requireFact, requireHost, type Check } from '../check.ts'
import { readText } from '../proc.ts'
import { interfaces, type HostView } from '../probe.ts'

/** lo can only be brought up in a network namespace of the container's own. */
const NETNS_HINT = '04.1'

function words(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean)
}

/**
 * The interfaces a container may have: lo alone, and from step 08 on also eth0, the veth end the engine plugs in
 * (08's checks judge it; here it only must not be anything of the host's).
 */
function allowedInterfaces(step: number): string[][] {
  return step >= 8 ? [['lo'], ['eth0', 'lo']] : [['lo']]
}

type NetworkView = { network: { host: { netnsId: string; exec(argv: string[]): string } } | undefined }

/** The interfaces of the host the engine ran in: the real one, or from step 08 on the test network's "host". */
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
      const inside = words(requireFact(p.run, 'ifaces')).sort()
      const allowed = allowedInterfaces(ctx.step.number)
      const ok = (list: string[]): boolean => allowed.some((a) => a.join(' ') === [...list].sort().join(' '))
      if (h.ns.net.inside === hostNetns(ctx, h)) fail("the container's network namespace (/proc/<pid>/ns/net) to differ from the host's", 'the same one', p.run)
      if (!ok(inside) || !ok(h.netDev)) fail(`only ${allowed.map((a) => a.map((i) => `"${i}"`).join(' and ')).join(', or ')} in /proc/net/dev (inside, and in /proc/<pid>/net/dev on the host)`, `inside: ${inside.join(' ') || 'nothing'}; from the host: ${h.netDev.join(' ') || 'nothing'}`, p.run)
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
      const hostIfaces = hostInterfaces(ctx)
      const p = await ctx.shared()
      const h = requireHost(p)
      const inside = words(requireFact(p.run, 'ifaces'))
      const seen = [...new Set([...inside, ...h.netDev])].filter((i) => hostIfaces.includes(i))
      if (seen.length) fail(`none of the host's interfaces (${hostIfaces.join(', ')}) inside`, `the container sees ${seen.join(', ')}`, p.run)
      if (hostIfaces.length === 0 && h.ns.net.inside === hostNetns(ctx, h)) fail("a network namespace of the container's own", "the host's", p.run)
    },
  },
]
