// Step 04: a network namespace of its own, with only the loopback interface, brought up.
import { fail, requireFact, requireLive, type Check } from '../check.ts'
import { nsLink, readText } from '../proc.ts'
import { PAUSE } from './01-namespaces.ts'

/** Interface names in a /proc/net/dev text. */
export function interfaces(netDev: string | undefined): string[] {
  return (netDev ?? '')
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]!.trim())
    .filter(Boolean)
}

const LIST = `echo "@mc ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')"`

export const checks: Check[] = [
  {
    id: '04.netns',
    title: 'a network namespace of its own: only lo exists',
    why: "in the host's network namespace a container can listen on the host's ports, reach its private services and sniff its traffic.",
    hint: { step: '04-network', todo: /NEWNET|network namespace/i, text: 'add CLONE_NEWNET to the flags the child unshares' },
    async run(ctx) {
      let same = true
      let hostSide: string[] = []
      const r = await ctx.run({
        script: `${LIST}; ${PAUSE}`,
        onReady: ({ pid }) => {
          if (pid === undefined) return
          same = nsLink(pid, 'net') === nsLink('self', 'net')
          hostSide = interfaces(readText(`/proc/${pid}/net/dev`))
        },
      })
      requireLive(r)
      const inside = requireFact(r, 'ifaces').trim().split(/\s+/).filter(Boolean)
      if (same) fail("the container's network namespace (/proc/<pid>/ns/net) to differ from the host's", 'the same one', r)
      if (inside.join(' ') !== 'lo' || hostSide.join(' ') !== 'lo') fail('only "lo" in /proc/net/dev (inside, and in /proc/<pid>/net/dev on the host)', `inside: ${inside.join(' ') || 'nothing'}; from the host: ${hostSide.join(' ') || 'nothing'}`, r)
    },
  },
  {
    id: '04.lo-up',
    title: 'lo is up: 127.0.0.1 answers inside',
    why: 'many programs talk to themselves over 127.0.0.1 (databases, language servers, health checks); a new network namespace starts with lo down.',
    hint: { step: '04-network', todo: /\blo\b|loopback|IFF_UP|SIOCSIFFLAGS/i, text: 'bring lo up: SIOCGIFFLAGS, set IFF_UP, SIOCSIFFLAGS on an AF_INET socket, inside the new network namespace' },
    async run(ctx) {
      let routes = ''
      let same = true
      const r = await ctx.run({
        script: `ping -c 1 -W 2 127.0.0.1 >/dev/null 2>&1; echo "@mc ping=$?"; ${PAUSE}`,
        onReady: ({ pid }) => {
          if (pid === undefined) return
          same = nsLink(pid, 'net') === nsLink('self', 'net')
          routes = readText(`/proc/${pid}/net/fib_trie`) ?? ''
        },
      })
      requireLive(r)
      const ping = requireFact(r, 'ping')
      if (same) fail("a network namespace of the container's own (where lo starts down)", "the host's network namespace", r)
      if (ping !== '0') fail('ping -c 1 127.0.0.1 to succeed inside (status 0)', `status ${ping}`, r)
      if (!/127\.0\.0\.1/.test(routes)) fail("127.0.0.1 among the local addresses of the container's network namespace (/proc/<pid>/net/fib_trie)", 'not there: lo is down', r)
    },
  },
  {
    id: '04.host-interfaces',
    title: "the host's interfaces are invisible inside",
    why: "seeing the host's interfaces means using them: the container would share the host's network stack.",
    hint: { step: '04-network', todo: /NEWNET|network namespace/i, text: 'unshare(CLONE_NEWNET) in the child, before exec' },
    async run(ctx) {
      const hostIfaces = interfaces(readText('/proc/net/dev')).filter((i) => i !== 'lo')
      const r = await ctx.run({ script: `${LIST}; ${PAUSE}` })
      requireLive(r)
      const inside = requireFact(r, 'ifaces').trim().split(/\s+/).filter(Boolean)
      const seen = inside.filter((i) => hostIfaces.includes(i))
      if (seen.length) fail(`none of the host's interfaces (${hostIfaces.join(', ')}) inside`, `the container sees ${seen.join(', ')}`, r)
      if (hostIfaces.length === 0 && inside.join(' ') !== 'lo') fail('only lo inside', inside.join(' '), r)
    },
  },
]
