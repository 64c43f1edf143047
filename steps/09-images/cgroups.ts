// Step 03: control groups. A cgroup is a folder in the cgroup filesystem; the kernel enforces
// the limits written to its files on every process listed in its cgroup.procs.
//
//   cgroup v2 (one tree, the workshop VM)      cgroup v1 (one tree per controller)
//   /sys/fs/cgroup/minicontainer/mc-ID/        /sys/fs/cgroup/memory/minicontainer/mc-ID/
//     memory.max  memory.swap.max                memory.limit_in_bytes  memory.memsw.limit_in_bytes
//     cpu.max     pids.max                     /sys/fs/cgroup/cpu/minicontainer/mc-ID/   cpu.cfs_quota_us ...
//     cgroup.procs  memory.events              /sys/fs/cgroup/pids/minicontainer/mc-ID/  pids.max
import fs from 'node:fs'
import path from 'node:path'
import { FriendlyError } from '../../lib/errors.ts'
// The housekeeping (writing a file with a readable error, killing what is left, rmdir with retries, sweeping the
// cgroups of engines that were killed) is lib's: this file is about the limits.
import {
  CGROUP_ROOT, PARENT, killCgroupProcesses, removeCgroupDir, removeEmptyParents, removeStaleCgroups, writeCgroupFile,
} from '../../lib/cgroupfs.ts'
/** The CPU limit is a quota of CPU time per period: 0.5 CPU = 50 ms of every 100 ms. */
export const CPU_PERIOD_US = 100_000

export interface Limits {
  memoryBytes: number
  cpus: number
  pids: number
}

/**
 * A container's cgroup. On v2 the three folders are the same one; on v1 each controller has
 * its own tree, so the container has one folder in each.
 */
export interface Cgroup {
  version: 1 | 2
  name: string
  memory: string
  cpu: string
  pids: string
}

/** v2 when the unified hierarchy is mounted at the root; v1 when the memory controller has its own tree. */
export function detectCgroupVersion(): 1 | 2 {
  if (fs.existsSync(path.join(CGROUP_ROOT, 'cgroup.controllers'))) return 2
  if (fs.existsSync(path.join(CGROUP_ROOT, 'memory', 'memory.limit_in_bytes'))) return 1
  throw new FriendlyError(`no cgroup memory controller under ${CGROUP_ROOT}`, {
    hint: 'the workshop VM has cgroup v2 with the memory controller: run `npm run doctor` there',
  })
}

/** The folders of a (new or existing) cgroup; creates nothing. */
export function cgroupPaths(version: 1 | 2, name: string): Cgroup {
  if (version === 2) {
    const dir = path.join(CGROUP_ROOT, PARENT, name)
    return { version, name, memory: dir, cpu: dir, pids: dir }
  }
  const dir = (controller: string) => path.join(CGROUP_ROOT, controller, PARENT, name)
  return { version, name, memory: dir('memory'), cpu: dir('cpu'), pids: dir('pids') }
}

/** The cgroup's distinct folders: one on v2, three on v1. */
export function cgroupDirs(cgroup: Cgroup): string[] {
  return [...new Set([cgroup.memory, cgroup.cpu, cgroup.pids])]
}

/** A name no other container uses: the engine's PID is unique while it runs, the rest tells runs apart. */
export function newCgroupName(): string {
  return `mc-${process.pid}-${Math.random().toString(16).slice(2, 8).padEnd(6, '0')}`
}

/** Host side, before init exists: a new cgroup with the limits in place. */
export function createCgroup(limits: Limits): Cgroup {
  const version = detectCgroupVersion()
  const cgroup = cgroupPaths(version, newCgroupName())
  removeStaleCgroups(version)
  if (version === 2) enableControllers()
  for (const dir of cgroupDirs(cgroup)) fs.mkdirSync(dir, { recursive: true })
  try {
    writeLimits(cgroup, limits)
  } catch (error) {
    removeCgroup(cgroup)
    throw error
  }
  return cgroup
}

/**
 * v2 only: a controller's files appear in a cgroup only when its parent lists the controller in
 * cgroup.subtree_control. Enable memory, cpu and pids for our folder and under it.
 */
function enableControllers(): void {
  const parent = path.join(CGROUP_ROOT, PARENT)
  writeCgroupFile(CGROUP_ROOT, 'cgroup.subtree_control', '+memory +cpu +pids')
  fs.mkdirSync(parent, { recursive: true })
  writeCgroupFile(parent, 'cgroup.subtree_control', '+memory +cpu +pids')
}

export function writeLimits(cgroup: Cgroup, limits: Limits): void {
  const quota = Math.round(limits.cpus * CPU_PERIOD_US)
  if (cgroup.version === 2) {
    writeCgroupFile(cgroup.memory, 'memory.max', limits.memoryBytes)
    if (fs.existsSync(path.join(cgroup.memory, 'memory.swap.max'))) writeCgroupFile(cgroup.memory, 'memory.swap.max', 0)
    writeCgroupFile(cgroup.cpu, 'cpu.max', `${quota} ${CPU_PERIOD_US}`)
  } else {
    writeCgroupFile(cgroup.memory, 'memory.limit_in_bytes', limits.memoryBytes)
    // memsw = memory + swap, so the same value means no swap at all. It must not be below
    // memory.limit_in_bytes, hence the order.
    if (fs.existsSync(path.join(cgroup.memory, 'memory.memsw.limit_in_bytes'))) {
      writeCgroupFile(cgroup.memory, 'memory.memsw.limit_in_bytes', limits.memoryBytes)
    }
    writeCgroupFile(cgroup.cpu, 'cpu.cfs_period_us', CPU_PERIOD_US)
    writeCgroupFile(cgroup.cpu, 'cpu.cfs_quota_us', quota)
  }
  writeCgroupFile(cgroup.pids, 'pids.max', limits.pids)
}

/**
 * Host side, right after init is spawned and before it receives its configuration: init
 * waits for that, so the command cannot start outside the cgroup.
 */
export function joinCgroup(cgroup: Cgroup, pid: number): void {
  for (const dir of cgroupDirs(cgroup)) writeCgroupFile(dir, 'cgroup.procs', pid)
}

/**
 * How many processes the kernel's OOM killer killed in this cgroup. A process that died of
 * SIGKILL is not proof: anyone can send SIGKILL; only the kernel's counter knows.
 */
export function oomKillCount(cgroup: Cgroup): number {
  const file = path.join(cgroup.memory, cgroup.version === 2 ? 'memory.events' : 'memory.oom_control')
  const match = /^oom_kill (\d+)$/m.exec(fs.readFileSync(file, 'utf8'))
  return match ? Number(match[1]) : 0
}

/** Host side, when the container is over, whatever happened (success, failure, OOM, Ctrl-C): the cgroup goes. */
export function removeCgroup(cgroup: Cgroup): void {
  for (const dir of cgroupDirs(cgroup)) {
    killCgroupProcesses(dir)
    removeCgroupDir(dir)
  }
  removeEmptyParents(cgroup.version)
}
