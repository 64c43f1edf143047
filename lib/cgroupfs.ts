// The cgroup filesystem's housekeeping, which every engine needs and no lesson is about: which version the host
// has, writing a cgroup file with an error a human can act on, emptying and removing a cgroup, and sweeping the
// cgroups of engines that were killed before they could clean up. The learner's cgroups.ts (the limits) uses it.
import fs from 'node:fs'
import path from 'node:path'
import { FriendlyError, errnoName } from './errors.ts'

export const CGROUP_ROOT = '/sys/fs/cgroup'
/** All of minicontainer's cgroups live under this folder, one `mc-<engine pid>-<random>` each. */
export const PARENT = 'minicontainer'

export interface CgroupStatus {
  /** 2: the unified hierarchy is mounted on /sys/fs/cgroup itself; 1: one tree per controller. */
  version: 1 | 2 | undefined
  memory: boolean
  /** One line for a human. */
  detail: string
}

/**
 * Which cgroup hierarchy /sys/fs/cgroup has and whether the memory controller is there: the one detection the
 * checker, doctor, the VM path, bench and the tests share. (A hybrid host, cgroup2 on /sys/fs/cgroup/unified and
 * the controllers on v1, is v1 here: the controllers are what count.)
 */
export function cgroupStatus(root = CGROUP_ROOT): CgroupStatus {
  const read = (file: string): string | undefined => {
    try {
      return fs.readFileSync(path.join(root, file), 'utf8')
    } catch {
      return undefined
    }
  }
  const controllers = read('cgroup.controllers')
  if (controllers !== undefined) {
    const memory = controllers.split(/\s+/).includes('memory')
    return { version: 2, memory, detail: `cgroup v2, controllers: ${controllers.trim() || '(none)'}` }
  }
  if (fs.existsSync(path.join(root, 'memory'))) return { version: 1, memory: true, detail: 'cgroup v1 with a memory hierarchy' }
  return { version: undefined, memory: false, detail: `no cgroup hierarchy with a memory controller at ${root}` }
}

/** The host's cgroup version, for tools that look at cgroups from outside (v1 when there is no unified root). */
export function cgroupVersion(): 1 | 2 {
  return cgroupStatus().version ?? 1
}

/** Writes one cgroup file, with an error that says which file, which value and what the errno means. */
export function writeCgroupFile(dir: string, file: string, value: string | number): void {
  const target = path.join(dir, file)
  try {
    fs.writeFileSync(target, String(value))
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO'
    const [, text] = errnoName((error as NodeJS.ErrnoException).errno ?? 5)
    throw new FriendlyError(`write ${JSON.stringify(String(value))} to ${target}: ${code} (${text})`, {
      hint: code === 'ENOENT' ? 'no such file: on cgroup v2 a controller must be enabled in the parent\'s cgroup.subtree_control; on v1 each controller has its own tree'
        : code === 'EINVAL' ? 'the kernel refused the value (too small a limit? memsw below the memory limit?)'
        : code === 'EBUSY' ? 'on cgroup v2 a cgroup with processes in it cannot enable controllers for children'
        : code === 'ESRCH' ? 'that process no longer exists'
        : undefined,
      locate: true,
    })
  }
}

/** SIGKILL every process in a cgroup folder (v2 has cgroup.kill for that: it misses none). */
export function killCgroupProcesses(dir: string): void {
  if (!fs.existsSync(dir)) return
  if (fs.existsSync(path.join(dir, 'cgroup.kill'))) {
    fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1')
    return
  }
  for (const pid of readPids(dir)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

/** rmdir a cgroup folder; processes that were just killed take a moment to leave it (EBUSY). */
export function removeCgroupDir(dir: string): void {
  for (let attempt = 0; ; attempt++) {
    try {
      fs.rmdirSync(dir)
      return
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return
      if (code !== 'EBUSY' || attempt >= 200) throw new FriendlyError(`rmdir ${dir}: ${code}`, { hint: `processes still inside: cat ${dir}/cgroup.procs`, locate: true })
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10) // sleep 10 ms, synchronously
    }
  }
}

function readPids(dir: string): number[] {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)
  } catch {
    return []
  }
}

export function parentDirs(version: 1 | 2): string[] {
  return version === 2 ? [path.join(CGROUP_ROOT, PARENT)] : ['memory', 'cpu', 'pids'].map((c) => path.join(CGROUP_ROOT, c, PARENT))
}

/** Leaves no empty `minicontainer` folder behind; another container may still use it (ENOTEMPTY, EBUSY). */
export function removeEmptyParents(version: 1 | 2): void {
  for (const dir of parentDirs(version)) {
    try {
      fs.rmdirSync(dir)
    } catch {
      // still in use by another container, or already gone
    }
  }
}

/**
 * An engine killed with SIGKILL cannot remove its cgroup. Remove empty cgroups of engines that
 * no longer run (the engine's PID is part of the name).
 */
export function removeStaleCgroups(version: 1 | 2): void {
  for (const parent of parentDirs(version)) {
    let names: string[]
    try {
      names = fs.readdirSync(parent)
    } catch {
      continue
    }
    for (const name of names) {
      const pid = /^mc-(\d+)-[0-9a-f]+$/.exec(name)?.[1]
      if (!pid || fs.existsSync(`/proc/${pid}`)) continue
      const dir = path.join(parent, name)
      if (readPids(dir).length > 0) continue
      try {
        fs.rmdirSync(dir)
      } catch {
        // not ours to worry about
      }
    }
  }
}
