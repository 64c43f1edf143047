// The address book of the container network: one file per address in use, like CNI's host-local allocator
// (/var/lib/cni/networks/NAME/<address>). A lease names the engine that holds it (PID and start time: a PID
// can be reused, a start time cannot), the host end of its veth pair, its published ports and the tag on its
// firewall rules, so that whatever an engine killed with SIGKILL left behind can be found and removed.
// Read and written only under the network lock (lockFile()), so two engines never pick the same address.
import fs from 'node:fs'
import path from 'node:path'
import type { Publish } from '../cli.ts'
import { FriendlyError } from '../errors.ts'
import { minicontainerHome } from '../rootfs/location.ts'

export interface Lease {
  address: string
  /** The engine holding it. */
  pid: number
  /** /proc/PID/stat field 22 of that engine: tells it apart from a later process with the same PID. */
  startTime: number
  /** The host end of the container's veth pair. */
  veth: string
  /** The comment on each of the container's nft rules. */
  tag: string
  publish: Publish[]
}

/**
 * The network's state: leases, the lock, what the engine changed on the host (for `npm run net:reset`).
 * `$MINICONTAINER_HOME/net`, or MINICONTAINER_NET_DIR: the checker's test networks each have their own, as another
 * machine would (the leases belong to one host's network).
 */
export function networkStateDir(): string {
  return process.env.MINICONTAINER_NET_DIR || path.join(minicontainerHome(), 'net')
}
export const leasesDir = (): string => path.join(networkStateDir(), 'leases')
export const lockFile = (): string => path.join(networkStateDir(), 'lock')

export function readLeases(): Lease[] {
  let names: string[]
  try {
    names = fs.readdirSync(leasesDir())
  } catch {
    return []
  }
  const out: Lease[] = []
  for (const name of names) {
    try {
      out.push(JSON.parse(fs.readFileSync(path.join(leasesDir(), name), 'utf8')) as Lease)
    } catch {
      // half-written by an engine killed at that moment: no engine holds it
      out.push({ address: name, pid: 0, startTime: 0, veth: '', tag: '', publish: [] })
    }
  }
  return out
}

/** Writes a new lease; refuses if the address is leased already, whatever the caller believed. */
export function writeLease(lease: Lease): void {
  fs.mkdirSync(leasesDir(), { recursive: true })
  const file = path.join(leasesDir(), lease.address)
  try {
    fs.writeFileSync(file, JSON.stringify(lease) + '\n', { flag: 'wx' }) // wx: only if no such file (O_EXCL)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    const holder = readLeases().find((l) => l.address === lease.address)
    throw new FriendlyError(`the address ${lease.address} is leased already${holder?.pid ? ` (to the container of engine pid ${holder.pid})` : ''}: ${file}`, {
      hint: 'the address chosen must be none of those running containers hold',
    })
  }
}

export function removeLease(address: string): void {
  fs.rmSync(path.join(leasesDir(), address), { force: true })
}

/** Field 22 of /proc/PID/stat (start time in clock ticks after boot), or undefined if there is no such process. */
export function processStartTime(pid: number | 'self'): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
  } catch {
    return undefined
  }
}

/** Whether the engine that wrote the lease still runs. */
export function isHeld(lease: Lease): boolean {
  return lease.pid > 0 && processStartTime(lease.pid) === lease.startTime
}
