// Every process and cgroup one engine run ever had, so that nothing escapes the checker: processes that left the
// engine's process group (daemons), processes reparented away from it, and the cgroups of them all. At the end,
// everything still alive is killed and every cgroup the run made is removed.
import { cgroupDirsOf, cgroupPids, isCheckersCgroupOrAncestor, killAndRemoveCgroup } from './cgroups.ts'
import { describe } from './host.ts'
import { allProcs, descendants, killQuietly, type ProcInfo } from './proc.ts'

/** Every pid the checker's runs ever had (engines, wrappers, containers): to tell our leaks from others'. */
export const ourPids = new Set<number>()

export class ProcessTree {
  /** Every process seen below the root, pid -> start time (pids are reused, start times are not). */
  private readonly seen = new Map<number, number>()
  /** The cgroups of every process of the run (not only the container's: a run killed on timeout leaves the engine
   * no chance to remove them, so the checker does). */
  readonly cgroupDirs = new Set<string>()
  /** Processes found some other way (the container's, found by its token). */
  private readonly extra = new Set<number>()

  readonly rootPid: number

  /** The root and every process seen below it. */
  get pids(): number[] {
    return [this.rootPid, ...this.seen.keys()]
  }

  constructor(rootPid: number) {
    this.rootPid = rootPid
    ourPids.add(rootPid)
  }

  /** Looks at the tree now: remembers its processes and their cgroups. */
  remember(): void {
    for (const p of descendants(this.rootPid)) {
      this.seen.set(p.pid, p.startTime)
      ourPids.add(p.pid)
      const dirs = cgroupDirsOf(p.pid)
      if (dirs) for (const d of new Set(Object.values(dirs))) if (d && !isCheckersCgroupOrAncestor(d)) this.cgroupDirs.add(d)
    }
  }

  /** A process of the run that may not be below the root (any more). */
  adopt(pid: number): void {
    this.extra.add(pid)
    ourPids.add(pid)
  }

  /** SIGKILLs everything of the run that is still alive; returns "pid N: cmdline" of each. */
  killAll(): string[] {
    const victims = new Map<number, string>()
    const procs: ProcInfo[] = allProcs()
    const alive = new Set(procs.filter((p) => p.state !== 'Z').map((p) => p.pid))
    const add = (pid: number): void => {
      if (pid !== process.pid && alive.has(pid) && !victims.has(pid)) victims.set(pid, describe(pid))
    }
    const withDescendants = (pid: number): void => {
      add(pid)
      for (const d of descendants(pid, procs)) add(d.pid)
    }
    for (const p of procs) if (p.pgid === this.rootPid) add(p.pid)
    withDescendants(this.rootPid)
    for (const [pid, startTime] of this.seen) {
      if (procs.find((x) => x.pid === pid)?.startTime === startTime) withDescendants(pid)
    }
    for (const pid of this.extra) withDescendants(pid)
    for (const dir of this.cgroupDirs) for (const pid of cgroupPids(dir)) add(pid)
    killQuietly(-this.rootPid)
    for (const pid of victims.keys()) killQuietly(pid)
    return [...victims.values()]
  }

  /** Empties and removes every cgroup the run was seen in. */
  async removeCgroups(): Promise<void> {
    for (const dir of this.cgroupDirs) await killAndRemoveCgroup(dir)
  }
}
