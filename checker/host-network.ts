// The REAL host's network, before and after anything that builds bridges, veths or NAT rules: links, addresses,
// routes, policy rules, named network namespaces, the firewall (iptables-save, ip6tables-save, nft list
// ruleset) and the forwarding sysctls. (Not the list of named namespaces in /run/netns: other programs, like
// the VM test, make and delete theirs at any time, and none of them is the host's network.) Those runs happen inside throw-away namespaces (checker/test-network.ts); if
// anything here changed anyway, compareHostNetwork says what, loudly, and repairs what is minicontainer's own.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

export interface HostNetworkSnapshot {
  /** Which network namespace was read (the checker's own: the real host's). */
  netns: string
  /** Section name -> its normalised lines. */
  sections: Record<string, string[]>
  /** Section name -> why it could not be read (a tool missing: that part is not guarded). */
  unreadable: Record<string, string>
}

/** Volatile parts that change by themselves: packet counters, address and route lifetimes, dump dates. */
function normalise(line: string): string {
  return line
    .replace(/\[\d+:\d+\]/g, '[n:n]')
    .replace(/counter packets \d+ bytes \d+/g, 'counter')
    .replace(/\s+(valid_lft|preferred_lft) \S+/g, '')
    .replace(/\s+expires \S+/g, '')
    .replace(/\s+used \S+/g, '')
    .trimEnd()
}

const COMMANDS: Record<string, string[]> = {
  links: ['ip', '-o', 'link', 'show'],
  addresses: ['ip', '-o', 'address', 'show'],
  'routes (IPv4, all tables)': ['ip', '-4', 'route', 'show', 'table', 'all'],
  'routes (IPv6, all tables)': ['ip', '-6', 'route', 'show', 'table', 'all'],
  'policy rules': ['ip', 'rule', 'show'],
  'iptables-save': ['iptables-save'],
  'ip6tables-save': ['ip6tables-save'],
  'nft list ruleset': ['nft', 'list', 'ruleset'],
}

/** Per-interface sysctls that NAT and publishing touch, read straight from /proc/sys (this process's netns). */
function sysctls(): string[] {
  const out: string[] = []
  const read = (file: string): void => {
    try {
      out.push(`${file.replace('/proc/sys/', '').replaceAll('/', '.')} = ${fs.readFileSync(file, 'utf8').trim()}`)
    } catch {
      // not on this kernel (e.g. no br_netfilter): nothing to compare
    }
  }
  read('/proc/sys/net/ipv4/ip_forward')
  read('/proc/sys/net/ipv6/conf/all/forwarding')
  read('/proc/sys/net/bridge/bridge-nf-call-iptables')
  const conf = '/proc/sys/net/ipv4/conf'
  for (const iface of fs.readdirSync(conf).sort()) {
    for (const key of ['forwarding', 'route_localnet', 'proxy_arp']) read(path.join(conf, iface, key))
  }
  return out
}

export function snapshotHostNetwork(): HostNetworkSnapshot {
  const sections: Record<string, string[]> = {}
  const unreadable: Record<string, string> = {}
  for (const [name, argv] of Object.entries(COMMANDS)) {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' })
    if (r.error || r.status !== 0) {
      unreadable[name] = r.error ? `${argv[0]} is not installed` : `${argv.join(' ')} failed: ${r.stderr.trim().split('\n')[0]}`
      continue
    }
    sections[name] = r.stdout.split('\n').filter((l) => l.trim() && !l.startsWith('#')).map(normalise)
  }
  sections.sysctls = sysctls()
  return { netns: fs.readlinkSync('/proc/self/ns/net'), sections, unreadable }
}

export interface HostNetworkChange {
  section: string
  added: string[]
  removed: string[]
}

export function diffHostNetwork(before: HostNetworkSnapshot, after: HostNetworkSnapshot): HostNetworkChange[] {
  const changes: HostNetworkChange[] = []
  for (const section of new Set([...Object.keys(before.sections), ...Object.keys(after.sections)])) {
    const a = before.sections[section] ?? []
    const b = after.sections[section] ?? []
    const added = b.filter((l) => !a.includes(l))
    const removed = a.filter((l) => !b.includes(l))
    if (added.length || removed.length) changes.push({ section, added, removed })
  }
  return changes
}

/** One readable block: "links: + 7: mc0: <...>" per changed line. */
export function describeChanges(changes: HostNetworkChange[]): string {
  return changes.flatMap((c) => [...c.added.map((l) => `${c.section}: + ${l}`), ...c.removed.map((l) => `${c.section}: - ${l}`)]).join('\n')
}

/**
 * Puts back what is recognisably minicontainer's: its bridge and veths, its nft table, the sysctls it sets.
 * Anything else is only reported: it may not be ours to undo. Returns what it did.
 */
export function repairHostNetwork(before: HostNetworkSnapshot, changes: HostNetworkChange[]): string[] {
  const done: string[] = []
  for (const c of changes) {
    if (c.section === 'links') {
      for (const line of c.added) {
        const name = /^\d+: ([^:@\s]+)/.exec(line)?.[1]
        if (name && /^(mc0|veth[0-9a-f]{8}|tmp[0-9a-f]{8})$/.test(name) && spawnSync('ip', ['link', 'del', name]).status === 0) {
          done.push(`deleted the link ${name}`)
        }
      }
    }
    if (c.section === 'nft list ruleset' && c.added.some((l) => /^table ip minicontainer\b/.test(l))) {
      if (spawnSync('nft', ['delete', 'table', 'ip', 'minicontainer']).status === 0) done.push('deleted the nft table ip minicontainer')
    }
    if (c.section === 'sysctls') {
      for (const line of c.removed) {
        const [key, value] = line.split(' = ')
        const file = `/proc/sys/${key!.replaceAll('.', '/')}`
        if (!/(ip_forward|forwarding|route_localnet)$/.test(key!) || !fs.existsSync(file)) continue
        try {
          fs.writeFileSync(file, value!)
          done.push(`set ${key} back to ${value}`)
        } catch {
          // reported as a change anyway
        }
      }
    }
  }
  void before
  return done
}

/**
 * Compares the real host's network with `before`; repairs what is minicontainer's and throws an Error that
 * lists every change. For tests and the checker's sessions: a run that touched the real network fails loudly.
 */
export function assertHostNetworkUnchanged(before: HostNetworkSnapshot, context: string): void {
  const after = snapshotHostNetwork()
  if (after.netns !== before.netns) throw new Error(`${context}: the snapshots are of different network namespaces (${before.netns}, ${after.netns})`)
  const changes = diffHostNetwork(before, after)
  if (!changes.length) return
  const repaired = repairHostNetwork(before, changes)
  throw new Error(
    `THE REAL HOST'S NETWORK CHANGED during ${context}. Bridges, veths and NAT rules must only ever be made inside ` +
      `the namespaces of a test network (checker/test-network.ts).\n${describeChanges(changes)}` +
      (repaired.length ? `\nrepaired: ${repaired.join('; ')}` : '\nnothing was repaired: undo these by hand'),
  )
}
