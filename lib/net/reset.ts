// `npm run net:reset`: takes away everything step 08's engine added to this machine's network, as if it had
// never run: the leftovers of engines that were killed, the bridge (which stays between runs, like docker0),
// the nft table, and ip_forward as it was before the first engine switched it on. Refuses while containers
// run (their engines hold leases), unless --force.
import fs from 'node:fs'
import path from 'node:path'
import { parseCommandLine } from '../args.ts'
import { FriendlyError, formatError } from '../errors.ts'
import { BRIDGE, NAT_TABLE } from './defaults.ts'
import { isHeld, lockFile, networkStateDir, readLeases, removeLease } from './leases.ts'
import { withFileLock } from './lock.ts'
import { RouteSocket } from './netlink.ts'
import { nft, nftList } from './nft.ts'

/** What it did, one line each. */
export function resetNetwork(options: { force?: boolean } = {}): string[] {
  const done: string[] = []
  withFileLock(lockFile(), () => {
    const leases = readLeases()
    const running = leases.filter(isHeld)
    if (running.length && !options.force) {
      throw new FriendlyError(`${running.length} container(s) still run: ${running.map((l) => `${l.address} (engine pid ${l.pid})`).join(', ')}`, {
        hint: 'stop them first, or add --force to cut their network anyway',
      })
    }
    const host = new RouteSocket()
    try {
      for (const lease of leases) {
        if (lease.veth && host.deleteLink(lease.veth)) done.push(`deleted the veth ${lease.veth} (${lease.address})`)
        removeLease(lease.address)
        done.push(`released ${lease.address}`)
      }
      if (nftList(['table', 'ip', NAT_TABLE])) {
        nft(`delete table ip ${NAT_TABLE}\n`, `delete the nft table ip ${NAT_TABLE}`)
        done.push(`deleted the nft table ip ${NAT_TABLE}`)
      }
      if (host.deleteLink(BRIDGE)) done.push(`deleted the bridge ${BRIDGE}`)
    } finally {
      host.close()
    }
    const saved = path.join(networkStateDir(), 'ip_forward.before')
    if (fs.existsSync(saved)) {
      const before = fs.readFileSync(saved, 'utf8').trim()
      fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', before)
      fs.rmSync(saved)
      done.push(`net.ipv4.ip_forward is ${before} again, as before the first container`)
    }
  })
  fs.rmSync(networkStateDir(), { recursive: true, force: true })
  return done
}

const USAGE = `usage: npm run net:reset [-- --force]
  removes what step 08's engine added to this machine's network: the bridge ${BRIDGE}, the nft table ip ${NAT_TABLE},
  the leases and whatever killed engines left, and puts net.ipv4.ip_forward back as it was
  --force   even while containers run (their network is cut)`

if (import.meta.main) {
  try {
    const { values } = parseCommandLine(process.argv.slice(2), {
      force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    }, { usage: USAGE })
    if (values.help) {
      console.log(USAGE)
    } else {
      const done = resetNetwork({ force: values.force })
      console.log(done.length ? done.map((d) => `net:reset: ${d}`).join('\n') : 'net:reset: nothing to remove')
    }
  } catch (error) {
    console.error(formatError('net:reset', error))
    process.exitCode = error instanceof FriendlyError ? (error.exitCode === 2 ? 2 : 1) : 2
  }
}
