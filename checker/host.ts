// The host's state before and after the engine ran: hostname, mount table, cgroup directories. A difference
// is a leak: reported with its likely cause, then repaired so the next check (and the learner) start clean.
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { allCgroupDirs, cgroupPids, killAndRemoveCgroup } from './cgroups.ts'
import { allProcs, descendants, hostHostname, mountsOf, readText, type MountEntry } from './proc.ts'
import { LAYER_NAME, layersRoot } from '../lib/layers.ts'

export interface HostSnapshot {
  hostname: string
  mounts: MountEntry[]
  cgroups: Set<string>
  /** Layer folders of step 06's containers: $MINICONTAINER_HOME/containers/mc-<engine pid>-<random>. */
  layers: Set<string>
}

/** Step 06's layer folders, one per running container (lib/layers.ts). */
function layerFolders(): Set<string> {
  try {
    return new Set(fs.readdirSync(layersRoot()).filter((name) => LAYER_NAME.test(name)).map((name) => path.join(layersRoot(), name)))
  } catch {
    return new Set()
  }
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
  return { hostname: realHostname(), mounts: mountsOf('self') ?? [], cgroups: allCgroupDirs(), layers: layerFolders() }
}

export interface Leak {
  kind: 'hostname' | 'mount' | 'cgroup' | 'layer' | 'process' | 'image' | 'network'
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

/**
 * Another engine running at the same time (a second terminal, the project's tests) makes cgroups too: the
 * engines name them mc-<engine pid>-<random>. Whose is it? `ours` lists the engines of this session when the
 * caller knows them (the checker); otherwise a cgroup counts as left behind once its engine no longer runs.
 */
function leftByOurEngine(dir: string, ours: Set<number> | undefined): boolean {
  const pid = /^mc-(\d+)-/.exec(path.basename(dir))?.[1]
  if (!pid) return true
  return ours ? ours.has(Number(pid)) : !fs.existsSync(`/proc/${pid}`)
}

/**
 * Mounts other programs make meanwhile are none of the engine's doing: ip netns, desktop automounts, FUSE, and
 * systemd's per-service credentials (/run/credentials/UNIT, mounted while a unit such as a timer's runs).
 */
function isForeignMount(m: MountEntry): boolean {
  return /^(nsfs|autofs|binfmt_misc|rpc_pipefs|fuse.*)$/.test(m.fsType) ||
    /^\/(run\/(netns|user|docker|snapd|credentials)|media|snap|var\/lib\/docker)(\/|$)/.test(m.mountPoint)
}

export type Change =
  | { kind: 'hostname'; now: string; was: string }
  | { kind: 'mount'; mount: MountEntry }
  | { kind: 'cgroup'; dir: string; pids: number[] }
  | { kind: 'layer'; dir: string }

/**
 * What differs on the host since `before`: the hostname, mounts that appeared, cgroups that appeared (below
 * minicontainer's parents or anywhere else, but not the machine's service manager's). Changes nothing.
 */
export function hostChanges(before: HostSnapshot, options: { ours?: Set<number> } = {}): Change[] {
  const changes: Change[] = []
  const hostname = hostHostname()
  if (hostname !== before.hostname) changes.push({ kind: 'hostname', now: hostname, was: before.hostname })
  const known = new Set(before.mounts.map((m) => m.id))
  const added = (mountsOf('self') ?? []).filter((m) => !known.has(m.id) && !isForeignMount(m))
  // Deepest first, so a mount on top of another goes before it.
  added.sort((a, b) => b.mountPoint.split('/').length - a.mountPoint.split('/').length)
  for (const mount of added) changes.push({ kind: 'mount', mount })
  const parents = foreignParents()
  // The engines' shared parent (.../minicontainer) may stay: only what is below it belongs to one container.
  const newDirs = [...allCgroupDirs()].filter(
    (d) => !before.cgroups.has(d) && !isForeign(d, parents) && !/\/minicontainer$/.test(d) && leftByOurEngine(d, options.ours),
  )
  // Only the top-most new directories: removing them removes their children.
  for (const dir of newDirs.filter((d) => !newDirs.some((o) => o !== d && d.startsWith(o + '/')))) {
    changes.push({ kind: 'cgroup', dir, pids: cgroupPids(dir) })
  }
  for (const dir of layerFolders()) if (!before.layers.has(dir) && leftByOurEngine(dir, options.ours)) changes.push({ kind: 'layer', dir })
  return changes
}

/** One line for a change, as a test failure or a leak report shows it. */
export function describeChange(change: Change): string {
  switch (change.kind) {
    case 'hostname': return `the host's hostname became "${change.now}" (was "${change.was}")`
    case 'mount': return `a ${change.mount.fsType} mount on ${change.mount.mountPoint} (source ${change.mount.source}) stayed on the host`
    case 'cgroup': return `the cgroup ${change.dir} stayed after the container exited` + (change.pids.length ? ` with ${change.pids.length} process(es) in it` : '')
    case 'layer': return `the layer folder ${change.dir} stayed after its container exited`
  }
}

/** Compares with `before`, repairs what leaked, and says what it found, with the likely cause in the engine. */
export async function diffAndRepair(before: HostSnapshot, ours: Set<number> = new Set()): Promise<Leak[]> {
  const leaks: Leak[] = []
  for (const change of hostChanges(before, { ours })) {
    const what = describeChange(change)
    if (change.kind === 'hostname') {
      let repaired = false
      try {
        fs.writeFileSync('/proc/sys/kernel/hostname', before.hostname)
        repaired = hostHostname() === before.hostname
      } catch {
        // reported below
      }
      leaks.push({ kind: 'hostname', what, cause: "sethostname ran in the host's UTS namespace: the container needs a UTS namespace of its own before its hostname is set", text: change.now, repaired })
    } else if (change.kind === 'mount') {
      const m = change.mount
      let repaired = false
      try {
        execFileSync('umount', ['-l', m.mountPoint], { stdio: 'ignore' })
        repaired = true
      } catch {
        // maybe already gone with its parent
        repaired = !(mountsOf('self') ?? []).some((x) => x.id === m.id)
      }
      leaks.push({
        kind: 'mount', what, repaired, text: `${m.mountPoint} ${m.source}`,
        cause: "the container's mounts reached the host: a mount namespace of its own, with every mount in it made private (recursively), before mounting anything",
      })
    } else if (change.kind === 'layer') {
      // Never through a mount: the mounts were repaired first (deepest first, in hostChanges' order).
      const mounted = (mountsOf('self') ?? []).some((m) => m.mountPoint === change.dir || m.mountPoint.startsWith(change.dir + '/'))
      if (!mounted) fs.rmSync(change.dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 })
      leaks.push({
        kind: 'layer', what, repaired: !fs.existsSync(change.dir), text: change.dir,
        cause: "the engine must remove the container's layer folder (upper, work, merged) when the container exits; the layers of engines killed with SIGKILL are swept when the next engine starts",
      })
    } else {
      const repaired = await killAndRemoveCgroup(change.dir)
      leaks.push({
        kind: 'cgroup', what, repaired, text: change.dir,
        cause: "the engine must remove the container's cgroup (rmdir, after every process in it is gone) when the container exits, whatever way it exits",
      })
    }
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

/**
 * The rootfs image's dev/ folder, as the host sees it (Alpine's minirootfs ships it empty). An engine that fills
 * /dev without a tmpfs of its own writes into the image: files that every later container (and the next
 * learner) inherits.
 */
export function snapshotImage(rootfs: string | undefined): { dir: string; entries: Set<string> } | undefined {
  if (!rootfs) return undefined
  const dir = path.join(rootfs, 'dev')
  try {
    return { dir, entries: new Set(fs.readdirSync(dir)) }
  } catch {
    return undefined
  }
}

/**
 * Removes what an earlier broken run left in the image's dev/ (files and links: device nodes are never regular
 * files, and Alpine ships the folder empty), so that what this session's engine writes there shows. Returns the names.
 */
export function sweepImage(rootfs: string | undefined): string[] {
  if (!rootfs) return []
  const dir = path.join(rootfs, 'dev')
  const swept: string[] = []
  let names: string[]
  try {
    names = fs.readdirSync(dir)
  } catch {
    return []
  }
  for (const name of names) {
    try {
      const st = fs.lstatSync(path.join(dir, name))
      if (!st.isFile() && !st.isSymbolicLink()) continue
      fs.unlinkSync(path.join(dir, name))
      swept.push(name)
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
  return swept
}

/** What appeared in the image's dev/ since `before` (files, links, empty folders: all the engine's) is removed again. */
export function imageLeaks(before: ReturnType<typeof snapshotImage>): Leak[] {
  if (!before) return []
  let now: string[]
  try {
    now = fs.readdirSync(before.dir)
  } catch {
    return []
  }
  const added = now.filter((name) => !before.entries.has(name))
  if (!added.length) return []
  let repaired = true
  for (const name of added) {
    const file = path.join(before.dir, name)
    try {
      const st = fs.lstatSync(file)
      if (st.isSymbolicLink() || st.isFile()) fs.unlinkSync(file)
      else if (st.isDirectory()) fs.rmdirSync(file)
      else repaired = false
    } catch {
      repaired = false
    }
  }
  return [{
    kind: 'image',
    what: `files written into the rootfs image: ${before.dir}/{${added.slice(0, 8).join(',')}${added.length > 8 ? ',...' : ''}}`,
    cause: "the container's /dev must be a tmpfs of its own, mounted before anything is created in it: never write into the rootfs itself",
    text: added.join(' '),
    repaired,
  }]
}
