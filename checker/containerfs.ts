// What the container's command can reach, read from the host through /proc/<pid>: its working directory, its /dev,
// its mounts, its open files, its environment. Each function returns the problems it found (empty: none), phrased
// for the learner; none of them trusts what the probe inside printed.
import fs from 'node:fs'
import path from 'node:path'
import { mountsOf, readLink, readText, sameFile, type MountEntry } from './proc.ts'

function stat(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file)
  } catch {
    return undefined
  }
}

/**
 * Whether the command's working directory lies inside its root directory. chroot() changes the root, not the
 * working directory: without a chdir the command still stands in the host's tree, and `cd ..` walks up to the
 * host's /. Walked from the host: `..` from /proc/PID/cwd, one level at a time, must meet /proc/PID/root before
 * it meets the host's /.
 */
export function cwdInsideRoot(pid: number): { inside: boolean; cwd: string; root: string } | undefined {
  const root = stat(`/proc/${pid}/root`)
  const hostRoot = stat('/')
  const cwd = readLink(`/proc/${pid}/cwd`) ?? '?'
  const rootPath = readLink(`/proc/${pid}/root`) ?? '?'
  let dir = `/proc/${pid}/cwd`
  for (let depth = 0; depth < 512; depth++) {
    const here = stat(dir)
    if (!here) return undefined // the process is gone
    if (sameFile(here, root)) return { inside: true, cwd, root: rootPath }
    if (sameFile(here, hostRoot)) return { inside: false, cwd, root: rootPath }
    dir += '/..'
  }
  return { inside: false, cwd, root: rootPath }
}

/**
 * The device nodes a container may have, by name, with their device numbers: docker's minimal set (what
 * populateDev() binds), the console and the pseudo-terminals (for later steps). Anything else in its /dev,
 * above all a block device (a disk), is the host's.
 */
const ALLOWED_DEVICES: Record<string, [number, number]> = {
  null: [1, 3], zero: [1, 5], full: [1, 7], random: [1, 8], urandom: [1, 9], tty: [5, 0], console: [5, 1], ptmx: [5, 2],
}
/** Pseudo-terminal slaves (/dev/pts/N): majors 136-143. */
const PTS_MAJORS = [136, 143]

function major(rdev: number): number {
  return Number((BigInt(rdev) >> 8n) & 0xfffn)
}
function minor(rdev: number): number {
  return Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & 0xfff00n))
}

/**
 * The container's /dev, as the host sees it through /proc/PID/root: a mount of its own (tmpfs, so nothing is
 * written into the image), no devtmpfs of the host except the bind mounts of allowed nodes, and among the files
 * no block device and no character device outside the allowed set.
 */
export function devProblems(pid: number): string[] {
  const problems: string[] = []
  const mounts = mountsOf(pid) ?? []
  const devMount = mounts.filter((m) => m.mountPoint === '/dev').at(-1)
  if (!devMount) problems.push('/dev is not a mount of its own: the device nodes are written into the rootfs itself')
  else if (devMount.fsType === 'devtmpfs') problems.push(`/dev is the host's devtmpfs (source ${devMount.source}, root ${rootOf(devMount)}): every device of the machine is inside`)
  for (const m of mounts) {
    if (m === devMount || m.fsType !== 'devtmpfs' || isLockdownMount(m, mounts)) continue
    const name = m.mountPoint.replace(/^\/dev\//, '')
    if (!m.mountPoint.startsWith('/dev/') || rootOf(m) !== `/${name}` || !(name in ALLOWED_DEVICES)) problems.push(`the host's devtmpfs (its ${rootOf(m)}) is mounted on ${m.mountPoint}`)
  }
  const base = `/proc/${pid}/root/dev`
  const found: string[] = []
  const walk = (dir: string, rel: string, depth: number): void => {
    let entries: fs.Dirent[]
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      if (found.length >= 20) return
      const full = path.join(dir, e.name)
      const name = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory() && depth < 4) walk(full, name, depth + 1)
      if (!e.isBlockDevice() && !e.isCharacterDevice()) continue
      let st: fs.Stats
      try {
        st = fs.lstatSync(full)
      } catch {
        continue
      }
      const numbers = `${major(st.rdev)}:${minor(st.rdev)}`
      if (e.isBlockDevice()) {
        found.push(`block device /dev/${name} (${numbers}): a disk of the host`)
        continue
      }
      const allowed = ALLOWED_DEVICES[name] ?? (name === 'pts/ptmx' ? ALLOWED_DEVICES.ptmx : undefined)
      const pts = /^pts\/\d+$/.test(name) && major(st.rdev) >= PTS_MAJORS[0]! && major(st.rdev) <= PTS_MAJORS[1]!
      if (pts) continue
      if (!allowed) found.push(`character device /dev/${name} (${numbers})`)
      else if (allowed[0] !== major(st.rdev) || allowed[1] !== minor(st.rdev)) {
        found.push(`/dev/${name} is device ${numbers}, not ${allowed.join(':')}`)
      }
    }
  }
  walk(base, '', 0)
  return [...problems, ...found]
}

/** The path inside its filesystem that a mount shows (the 4th field of mountinfo): "/" for a whole filesystem. */
export function rootOf(m: MountEntry): string {
  return m.line.split(' ')[3] ?? '?'
}

/**
 * Mounts the command can reach that a container does not need: a bind mount of the host's / or of any host
 * folder, a second proc, ... Allowed: the root itself, proc on /proc, the /dev tmpfs with its nodes, /dev/shm,
 * /dev/pts, /dev/mqueue. (/proc/PID/mountinfo lists only the mounts reachable from the process's root.)
 */
export function unexpectedMounts(pid: number): MountEntry[] {
  const mounts = mountsOf(pid) ?? []
  return mounts.filter((m) => {
    if (m.mountPoint === '/') return false
    if (isLockdownMount(m, mounts)) return false // step 07's: each one hides or narrows, 07.* judge them
    if (m.mountPoint === '/proc' && m.fsType === 'proc') return false
    if (m.mountPoint === '/dev' && m.fsType === 'tmpfs') return false
    if (m.fsType === 'devtmpfs' && m.mountPoint.startsWith('/dev/') && rootOf(m) === m.mountPoint.slice(4)) return false // judged by devProblems
    if (m.mountPoint === '/dev/shm' && m.fsType === 'tmpfs') return false
    if (m.mountPoint === '/dev/pts' && m.fsType === 'devpts') return false
    if (m.mountPoint === '/dev/mqueue' && m.fsType === 'mqueue') return false
    return true
  })
}

/**
 * The mounts step 07 adds, each of which takes something away and none of which brings a host folder in: a
 * read-only sysfs on /sys; read-only cgroup filesystems (and the read-only tmpfs holding v1's) under
 * /sys/fs/cgroup; masks over /proc and /sys paths (the host's /dev/null bound over a file, an empty read-only
 * tmpfs over a folder); read-only binds of the container's own proc onto parts of itself. The 07.* checks judge
 * whether the right ones are there; here they only must not count as doors.
 */
export function isLockdownMount(m: MountEntry, mounts: MountEntry[]): boolean {
  const readOnly = (m.line.split(' ')[5] ?? '').split(',').includes('ro')
  const under = (dir: string): boolean => m.mountPoint.startsWith(dir + '/')
  if (m.mountPoint === '/sys' && m.fsType === 'sysfs') return readOnly
  if ((m.mountPoint === '/sys/fs/cgroup' || under('/sys/fs/cgroup')) && ['tmpfs', 'cgroup', 'cgroup2'].includes(m.fsType)) return readOnly
  if (!under('/proc') && !under('/sys')) return false
  if (m.fsType === 'devtmpfs') return rootOf(m) === '/null'
  if (m.fsType === 'tmpfs') return readOnly
  if (m.fsType === 'proc') return readOnly && m.line.split(' ')[2] === procOf(mounts)
  return false
}

function procOf(mounts: MountEntry[]): string | undefined {
  return mounts.filter((m) => m.mountPoint === '/proc' && m.fsType === 'proc').at(-1)?.line.split(' ')[2]
}

/** The device number ("0:21") of the proc filesystem on /proc of a process, to tell a fresh proc from the host's. */
export function procDevice(pid: number | 'self'): string | undefined {
  return mountsOf(pid)?.filter((m) => m.mountPoint === '/proc' && m.fsType === 'proc').at(-1)?.line.split(' ')[2]
}

/** The command's open files beyond stdin, stdout and stderr, as "fd 5 -> /" (what /proc/PID/fd links to). */
export function extraOpenFiles(pid: number): string[] {
  let fds: string[]
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`)
  } catch {
    return []
  }
  return fds
    .filter((fd) => Number(fd) > 2)
    .sort((a, b) => Number(a) - Number(b))
    .map((fd) => `fd ${fd} -> ${readLink(`/proc/${pid}/fd/${fd}`) ?? '?'}`)
}

/** The environment the command was started with (/proc/PID/environ): name -> value. */
export function environmentOf(pid: number): Map<string, string> | undefined {
  const text = readText(`/proc/${pid}/environ`)
  if (text === undefined) return undefined
  const env = new Map<string, string>()
  for (const entry of text.split('\0').filter(Boolean)) {
    const eq = entry.indexOf('=')
    env.set(eq < 0 ? entry : entry.slice(0, eq), eq < 0 ? '' : entry.slice(eq + 1))
  }
  return env
}
