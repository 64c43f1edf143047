// cgroups seen from the host, v1 and v2 alike: where each controller is mounted, which cgroup a process is
// in, the files the checks read, and how to empty and remove a cgroup a broken engine left behind.
import fs from 'node:fs'
import path from 'node:path'
import { cgroupVersion } from '../lib/cgroupfs.ts'
import { mountsOf, readText, sleep, killQuietly } from './proc.ts'

export type CgroupVersion = 1 | 2

export { cgroupVersion }

export interface Hierarchy {
  /** "" for the unified (v2) hierarchy, else its v1 controllers, e.g. ["cpu","cpuacct"] or ["name=systemd"]. */
  controllers: string[]
  mountPoint: string
  v2: boolean
}

/** Every cgroup hierarchy mounted on the host (v1 controllers, named v1 hierarchies and cgroup2). */
export function hierarchies(): Hierarchy[] {
  const seen = new Set<string>()
  const out: Hierarchy[] = []
  for (const m of mountsOf('self') ?? []) {
    if (m.fsType !== 'cgroup' && m.fsType !== 'cgroup2') continue
    if (seen.has(m.mountPoint)) continue
    seen.add(m.mountPoint)
    const superOptions = m.line.split(' - ')[1]?.split(' ')[2] ?? ''
    const controllers =
      m.fsType === 'cgroup2'
        ? []
        : superOptions.split(',').filter((o) => !['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'nsdelegate'].includes(o) && !o.startsWith('release_agent') && o !== 'clone_children' && o !== 'xattr' && o !== 'noprefix')
    out.push({ controllers, mountPoint: m.mountPoint, v2: m.fsType === 'cgroup2' })
  }
  return out
}

/** Where the files of `controller` (memory, cpu, pids) live for the cgroup at `relPath`, or undefined. */
export function controllerDir(controller: string, relPath: string, version: CgroupVersion = cgroupVersion()): string | undefined {
  if (version === 2) return path.join('/sys/fs/cgroup', relPath)
  const h = hierarchies().find((x) => !x.v2 && x.controllers.includes(controller))
  return h ? path.join(h.mountPoint, relPath) : undefined
}

/**
 * The cgroup directories of a process, per controller we care about: { memory: '/sys/fs/cgroup/memory/x', ... }.
 * On v2 all three are the same directory.
 */
export function cgroupDirsOf(pid: number, version: CgroupVersion = cgroupVersion()): Record<'memory' | 'cpu' | 'pids', string> | undefined {
  const text = readText(`/proc/${pid}/cgroup`)
  if (!text) return undefined
  const lines = text.trim().split('\n').map((l) => {
    const first = l.indexOf(':')
    const second = l.indexOf(':', first + 1)
    return { controllers: l.slice(first + 1, second).split(','), path: l.slice(second + 1) }
  })
  if (version === 2) {
    const unified = lines.find((l) => l.controllers.length === 1 && l.controllers[0] === '')
    if (!unified) return undefined
    const dir = path.join('/sys/fs/cgroup', unified.path)
    return { memory: dir, cpu: dir, pids: dir }
  }
  const find = (c: string): string => {
    const line = lines.find((l) => l.controllers.includes(c))
    return controllerDir(c, line?.path ?? '/', 1) ?? ''
  }
  return { memory: find('memory'), cpu: find('cpu'), pids: find('pids') }
}

export function readCgroupFile(dir: string, file: string): string | undefined {
  return readText(path.join(dir, file))?.trim()
}

/** A "key value" line of a flat-keyed file (memory.events, memory.oom_control, cpu.stat). */
export function keyedValue(text: string | undefined, key: string): number | undefined {
  const line = text?.split('\n').find((l) => l.startsWith(key + ' '))
  return line === undefined ? undefined : Number(line.split(' ')[1])
}

export interface CgroupLimits {
  version: CgroupVersion
  memoryDir: string
  cpuDir: string
  pidsDir: string
  /** Bytes, or undefined if unlimited. */
  memoryLimit: number | undefined
  /** v1 memsw limit (memory + swap), v2 swap.max; undefined when the kernel has no such file. */
  swapSetting: string | undefined
  /** CPUs allowed (quota / period), undefined if unlimited. */
  cpus: number | undefined
  pidsMax: number | undefined
  oomKills: number | undefined
  nrThrottled: number | undefined
}

const UNLIMITED_V1 = 2 ** 62

export function readLimits(pid: number): CgroupLimits | undefined {
  const version = cgroupVersion()
  const dirs = cgroupDirsOf(pid, version)
  if (!dirs) return undefined
  const num = (v: string | undefined): number | undefined => (v === undefined || v === 'max' || v === '' ? undefined : Number(v))
  if (version === 2) {
    const dir = dirs.memory
    const cpuMax = readCgroupFile(dir, 'cpu.max')?.split(' ')
    const quota = num(cpuMax?.[0])
    const period = num(cpuMax?.[1])
    return {
      version,
      memoryDir: dir,
      cpuDir: dir,
      pidsDir: dir,
      memoryLimit: num(readCgroupFile(dir, 'memory.max')),
      swapSetting: readCgroupFile(dir, 'memory.swap.max'),
      cpus: quota !== undefined && period ? quota / period : undefined,
      pidsMax: num(readCgroupFile(dir, 'pids.max')),
      oomKills: keyedValue(readCgroupFile(dir, 'memory.events'), 'oom_kill'),
      nrThrottled: keyedValue(readCgroupFile(dir, 'cpu.stat'), 'nr_throttled'),
    }
  }
  const memoryLimit = num(readCgroupFile(dirs.memory, 'memory.limit_in_bytes'))
  const quota = num(readCgroupFile(dirs.cpu, 'cpu.cfs_quota_us'))
  const period = num(readCgroupFile(dirs.cpu, 'cpu.cfs_period_us'))
  return {
    version,
    memoryDir: dirs.memory,
    cpuDir: dirs.cpu,
    pidsDir: dirs.pids,
    memoryLimit: memoryLimit !== undefined && memoryLimit < UNLIMITED_V1 ? memoryLimit : undefined,
    swapSetting: readCgroupFile(dirs.memory, 'memory.memsw.limit_in_bytes'),
    cpus: quota !== undefined && quota > 0 && period ? quota / period : undefined,
    pidsMax: num(readCgroupFile(dirs.pids, 'pids.max')),
    oomKills: keyedValue(readCgroupFile(dirs.memory, 'memory.oom_control'), 'oom_kill'),
    nrThrottled: keyedValue(readCgroupFile(dirs.cpu, 'cpu.stat'), 'nr_throttled'),
  }
}

/** Every cgroup directory of every hierarchy (absolute paths). */
export function allCgroupDirs(): Set<string> {
  const out = new Set<string>()
  const walk = (dir: string): void => {
    out.add(dir)
    let entries: fs.Dirent[]
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name))
  }
  for (const h of hierarchies()) walk(h.mountPoint)
  return out
}

export function cgroupPids(dir: string): number[] {
  return (readText(path.join(dir, 'cgroup.procs')) ?? '')
    .split('\n')
    .filter((l) => l.trim())
    .map(Number)
}

/** Kills every process in a cgroup (and its children cgroups) and removes the directories, deepest first. */
export async function killAndRemoveCgroup(dir: string): Promise<boolean> {
  if (!fs.existsSync(dir)) return true
  const dirs: string[] = []
  const walk = (d: string): void => {
    dirs.push(d)
    try {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name))
    } catch {
      // vanished
    }
  }
  walk(dir)
  dirs.sort((a, b) => b.length - a.length)
  for (const d of dirs) {
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        fs.writeFileSync(path.join(d, 'cgroup.kill'), '1')
      } catch {
        // v1 has no cgroup.kill
      }
      for (const pid of cgroupPids(d)) killQuietly(pid)
      try {
        fs.rmdirSync(d)
        break
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if (code === 'ENOENT') break
        await sleep(20)
      }
    }
  }
  return !fs.existsSync(dir)
}

let checkersCgroups: string[] | undefined
/** The checker's own cgroups, their parents and the hierarchies' roots: never a container's, never killed nor removed. */
export function isCheckersCgroupOrAncestor(dir: string): boolean {
  checkersCgroups ??= Object.values(cgroupDirsOf(process.pid) ?? {}).map((d) => d.replace(/\/+$/, ''))
  const clean = dir.replace(/\/+$/, '')
  if (hierarchies().some((h) => h.mountPoint === clean)) return true
  return checkersCgroups.some((own) => own === clean || own.startsWith(clean + '/'))
}

export type Controller = 'memory' | 'cpu' | 'pids'
export const CONTROLLERS: Controller[] = ['memory', 'cpu', 'pids']

/** Where a container's process is, for one controller, and what its engine made there. */
export interface Placement {
  controller: Controller
  /** The process's cgroup folder for this controller (from /proc/PID/cgroup). */
  dir: string
  /** In a cgroup of its own: not the checker's, not one of its parents, not a hierarchy's root. */
  own: boolean
  /** Folders named after one of the run's processes (mc-<engine pid>-...) in this controller's tree: what the engine made. */
  made: string[]
}

/**
 * For each controller: the container's cgroup and whether the engine made one there at all. The evidence a hint
 * needs: a process in its own memory cgroup but in the root of cpu and pids was never put into the cpu and pids
 * folders (joining); no folder at all was never created.
 */
export function placement(pid: number, runPids: number[], version: CgroupVersion = cgroupVersion()): Placement[] | undefined {
  const dirs = cgroupDirsOf(pid, version)
  if (!dirs) return undefined
  const pids = new Set(runPids.map(String))
  return CONTROLLERS.map((controller) => {
    const top = version === 2 ? '/sys/fs/cgroup' : controllerDir(controller, '/', 1)
    const made: string[] = []
    const walk = (dir: string, depth: number): void => {
      let entries: fs.Dirent[]
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true })
      } catch {
        return
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue
        const full = path.join(dir, e.name)
        const owner = /^mc-(\d+)-/.exec(e.name)?.[1]
        if (owner && pids.has(owner)) made.push(full)
        else if (depth < 2 && !SYSTEMD_SLICE.test(e.name)) walk(full, depth + 1)
      }
    }
    if (top) walk(top, 0)
    const dir = dirs[controller]
    return { controller, dir, own: dir !== '' && !isCheckersCgroupOrAncestor(dir), made }
  })
}

/** systemd's slices and units: never where an engine makes its cgroups (and large trees to walk). */
const SYSTEMD_SLICE = /\.(slice|scope|service|mount|socket|swap)$/

/** One line: where the process is for each controller ("memory: .../mc-1-ab (its own), cpu: / (not its own)"). */
export function describePlacement(places: Placement[]): string {
  const v2 = new Set(places.map((p) => p.dir)).size === 1
  const show = (p: Placement): string => `${p.dir || '?'} (${p.own ? 'its own' : 'not its own'})`
  return v2 ? show(places[0]!) : places.map((p) => `${p.controller}: ${show(p)}`).join(', ')
}
