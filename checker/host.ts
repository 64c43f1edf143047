// The host's state before and after the engine ran: hostname, mount table, cgroup directories. A difference
// is a leak: reported with its likely cause, then repaired so the next check (and the learner) start clean.
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { allCgroupDirs, cgroupPids, killAndRemoveCgroup } from './cgroups.ts'
import { allProcs, descendants, hostHostname, mountsOf, readText, type MountEntry } from './proc.ts'

export interface HostSnapshot {
  hostname: string
  mounts: MountEntry[]
  cgroups: Set<string>
}

/** Names only a container should have: the checker's random ones and the engines' default. */
const CONTAINER_HOSTNAME = /^((host|mc)-[a-z0-9]{10}|container)$/

/**
 * The host's real hostname. If it currently looks like a container's (a broken run, maybe of another checker
 * running at the same time, renamed the host), the configured one in /etc/hostname is the one to keep.
 */
function realHostname(): string {
  const now = hostHostname()
  if (!CONTAINER_HOSTNAME.test(now)) return now
  const configured = (readText('/etc/hostname') ?? '').trim()
  return configured && !CONTAINER_HOSTNAME.test(configured) ? configured : now
}

export function snapshotHost(): HostSnapshot {
  return { hostname: realHostname(), mounts: mountsOf('self') ?? [], cgroups: allCgroupDirs() }
}

export interface Leak {
  kind: 'hostname' | 'mount' | 'cgroup' | 'process' | 'network'
  /** What is left, e.g. "hostname is now mc-x1y2 (was vm)". */
  what: string
  /** The likely cause in the engine, phrased for the learner. */
  cause: string
  /** Random tokens that may identify the run that leaked (hostname, mount source or path). */
  text: string
  repaired: boolean
}

const SYSTEMD_UNIT = /\.(scope|service|slice|mount|socket|swap|timer|target)$/

/** Directories that siblings of our own cgroups: created by the machine's service manager, not by the engine. */
function foreignParents(): Set<string> {
  const out = new Set<string>()
  const text = readText('/proc/self/cgroup') ?? ''
  for (const line of text.trim().split('\n')) {
    const rel = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1)
    if (rel === '/' || rel === '') continue
    out.add(path.posix.dirname(rel))
  }
  return out
}

function isForeign(dir: string, parents: Set<string>): boolean {
  if (SYSTEMD_UNIT.test(dir)) return true
  if (/\/minicontainer(\/|$)/.test(dir)) return false
  for (const parent of parents) {
    if (parent === '/') continue
    if (path.posix.dirname(dir).endsWith(parent)) return true
  }
  return false
}

/** Compares with `before`, repairs what leaked, and says what it found. */
/**
 * Another engine running at the same time (a second terminal, the project's tests) makes cgroups too: the
 * solution names them mc-<engine pid>-<random>. Such a cgroup of an engine that is not one of ours is not
 * our leak.
 */
function belongsToAnotherEngine(dir: string, ours: Set<number>): boolean {
  const pid = /^mc-(\d+)-/.exec(path.basename(dir))?.[1]
  if (!pid) return false
  // Not one of the engines this checker ran (alive, or killed by whoever ran it): not ours to judge.
  return !ours.has(Number(pid))
}

export async function diffAndRepair(before: HostSnapshot, ignoreCgroups: Set<string> = new Set(), ours: Set<number> = new Set()): Promise<Leak[]> {
  const leaks: Leak[] = []
  const hostname = hostHostname()
  if (hostname !== before.hostname) {
    let repaired = false
    try {
      fs.writeFileSync('/proc/sys/kernel/hostname', before.hostname)
      repaired = hostHostname() === before.hostname
    } catch {
      // reported below
    }
    leaks.push({
      kind: 'hostname',
      what: `the host's hostname became "${hostname}" (was "${before.hostname}")`,
      cause: 'sethostname ran in the host\'s UTS namespace: unshare CLONE_NEWUTS before setting the hostname',
      text: hostname,
      repaired,
    })
  }

  const known = new Set(before.mounts.map((m) => m.id))
  // Mounts other programs make meanwhile (ip netns, desktop automounts, FUSE) are none of the engine's doing.
  const foreignMount = (m: MountEntry): boolean =>
    /^(nsfs|autofs|binfmt_misc|rpc_pipefs|fuse.*)$/.test(m.fsType) || /^\/(run\/(netns|user|docker|snapd)|media|snap|var\/lib\/docker)(\/|$)/.test(m.mountPoint)
  const added = (mountsOf('self') ?? []).filter((m) => !known.has(m.id) && !foreignMount(m))
  // Deepest first, so a mount on top of another goes before it.
  added.sort((a, b) => b.mountPoint.split('/').length - a.mountPoint.split('/').length)
  for (const m of added) {
    let repaired = false
    try {
      execFileSync('umount', ['-l', m.mountPoint], { stdio: 'ignore' })
      repaired = true
    } catch {
      // maybe already gone with its parent
      repaired = !(mountsOf('self') ?? []).some((x) => x.id === m.id)
    }
    leaks.push({
      kind: 'mount',
      what: `a ${m.fsType} mount on ${m.mountPoint} (source ${m.source}) stayed on the host`,
      cause:
        'the container\'s mounts reached the host: unshare CLONE_NEWNS and make "/" private (mount(NULL, "/", NULL, MS_REC|MS_PRIVATE)) before mounting anything',
      text: `${m.mountPoint} ${m.source}`,
      repaired,
    })
  }

  const parents = foreignParents()
  const now = allCgroupDirs()
  // The engines' shared parent (.../minicontainer) may stay: only what is below it belongs to one container.
  const newDirs = [...now].filter((d) => !before.cgroups.has(d) && !ignoreCgroups.has(d) && !isForeign(d, parents) && !/\/minicontainer$/.test(d) && !belongsToAnotherEngine(d, ours))
  // Only the top-most new directories: removing them removes their children.
  const tops = newDirs.filter((d) => !newDirs.some((o) => o !== d && d.startsWith(o + '/')))
  for (const dir of tops) {
    const pids = cgroupPids(dir)
    const repaired = await killAndRemoveCgroup(dir)
    leaks.push({
      kind: 'cgroup',
      what: `the cgroup ${dir} stayed after the container exited` + (pids.length ? ` with ${pids.length} process(es) in it` : ''),
      cause: 'the engine must remove the container\'s cgroup (rmdir, after every process in it is gone) when the container exits, whatever way it exits',
      text: dir,
      repaired,
    })
  }
  return leaks
}

/** Kills the given processes and everything below them; returns what was still alive. */
export function killTrees(pids: number[]): string[] {
  const procs = allProcs()
  const victims = new Map<number, string>()
  for (const pid of pids) {
    const self = procs.find((p) => p.pid === pid)
    if (self && self.state !== 'Z') victims.set(pid, describe(pid))
    for (const d of descendants(pid, procs)) if (d.state !== 'Z') victims.set(d.pid, describe(d.pid))
  }
  for (const pid of victims.keys()) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone
    }
  }
  return [...victims.values()]
}

export function describe(pid: number): string {
  const cmd = (readText(`/proc/${pid}/cmdline`) ?? '').split('\0').filter(Boolean).join(' ')
  return `pid ${pid}: ${cmd.length > 120 ? cmd.slice(0, 117) + '...' : cmd || '?'}`
}
