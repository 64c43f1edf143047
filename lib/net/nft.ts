// The firewall's NAT rules, through the `nft` program (nftables). Its netlink protocol is a small virtual
// machine for packet-matching bytecode: docker, the CNI plugins and podman's netavark all run iptables or nft
// rather than speak it, and so does the engine. Every script runs as ONE transaction: all of it or none.
import { spawnSync } from 'node:child_process'
import { FriendlyError } from '../errors.ts'

const INSTALL_HINT = 'install nftables (Debian/Ubuntu: apt-get install nftables), or run inside the workshop VM'

/** Runs `nft -f -` with `script` on stdin; throws nft's own error lines, which point at the faulty rule. */
export function nft(script: string, what: string): void {
  const r = spawnSync('nft', ['-f', '-'], { input: script, encoding: 'utf8' })
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code
    throw new FriendlyError(`${what}: cannot run nft: ${code ?? r.error.message}`, { hint: code === 'ENOENT' ? INSTALL_HINT : undefined })
  }
  if (r.status !== 0) {
    const errors = r.stderr.trim().split('\n').slice(0, 6).join('\n  ')
    throw new FriendlyError(`${what}: nft refused the rules:\n  ${errors}`, {
      hint: /Operation not permitted/.test(r.stderr) ? 'nft needs root (CAP_NET_ADMIN)' : 'the lines above say which rule and where; `nft list ruleset` shows what is there now',
    })
  }
}

/** `nft -j list ...` parsed: the `nftables` array of the JSON output (undefined when the object does not exist). */
export function nftList(args: string[]): Record<string, unknown>[] | undefined {
  const r = spawnSync('nft', ['-j', '-a', 'list', ...args], { encoding: 'utf8' })
  if (r.error) throw new FriendlyError(`nft list ${args.join(' ')}: cannot run nft: ${(r.error as NodeJS.ErrnoException).code}`, { hint: INSTALL_HINT })
  if (r.status !== 0) {
    if (/No such file or directory/.test(r.stderr)) return undefined
    throw new FriendlyError(`nft list ${args.join(' ')}: ${r.stderr.trim()}`)
  }
  return (JSON.parse(r.stdout) as { nftables: Record<string, unknown>[] }).nftables
}

export interface Rule {
  family: string
  table: string
  chain: string
  handle: number
  comment: string | undefined
}

/** The rules of a table with their handles (what `delete rule ... handle N` takes) and comments. */
export function rulesOf(family: string, table: string): Rule[] | undefined {
  const items = nftList(['table', family, table])
  if (!items) return undefined
  return items.filter((item) => 'rule' in item).map((item) => {
    const rule = item.rule as { family: string; table: string; chain: string; handle: number; comment?: string }
    return { family: rule.family, table: rule.table, chain: rule.chain, handle: rule.handle, comment: rule.comment }
  })
}

/** Deletes every rule of the table whose comment is `comment`, in one transaction; returns how many. */
export function deleteRulesWithComment(family: string, table: string, comment: string): number {
  const rules = (rulesOf(family, table) ?? []).filter((r) => r.comment === comment)
  if (rules.length) nft(rules.map((r) => `delete rule ${family} ${table} ${r.chain} handle ${r.handle}`).join('\n') + '\n', `remove the rules "${comment}"`)
  return rules.length
}
