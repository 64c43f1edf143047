// Kernel facts read from the host side: /proc/<pid>/..., the mount table, processes.
// Everything here is synchronous and never throws for a process that vanished (it returns undefined).
import fs from 'node:fs'

/** Two paths (or their stats) name one file: the same device and inode. False when either cannot be read. */
export function sameFile(a: string | fs.Stats | undefined, b: string | fs.Stats | undefined): boolean {
  const stat = (x: string | fs.Stats | undefined): fs.Stats | undefined => {
    if (typeof x !== 'string') return x
    try {
      return fs.statSync(x)
    } catch {
      return undefined
    }
  }
  const [x, y] = [stat(a), stat(b)]
  return x !== undefined && y !== undefined && x.dev === y.dev && x.ino === y.ino
}

export function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

export function readLink(file: string): string | undefined {
  try {
    return fs.readlinkSync(file)
  } catch {
    return undefined
  }
}

export const NAMESPACES = ['pid', 'uts', 'ipc', 'mnt', 'net', 'cgroup'] as const
export type Namespace = (typeof NAMESPACES)[number]

/** The namespace link of a process, e.g. "uts:[4026531838]". */
export function nsLink(pid: number | 'self', ns: Namespace): string | undefined {
  return readLink(`/proc/${pid}/ns/${ns}`)
}

export interface ProcInfo {
  pid: number
  ppid: number
  pgid: number
  state: string
  /** utime + stime in clock ticks. */
  cpuTicks: number
  /** Start time after boot, in clock ticks: with the pid, identifies a process (pids are reused). */
  startTime: number
}

export function procStat(pid: number): ProcInfo | undefined {
  const text = readText(`/proc/${pid}/stat`)
  if (!text) return undefined
  // The command name (field 2) may hold spaces and parentheses: parse after the LAST ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return {
    pid,
    state: rest[0]!,
    ppid: Number(rest[1]),
    pgid: Number(rest[2]),
    cpuTicks: Number(rest[11]) + Number(rest[12]),
    startTime: Number(rest[19]),
  }
}

export function cmdline(pid: number): string[] | undefined {
  const text = readText(`/proc/${pid}/cmdline`)
  if (text === undefined) return undefined
  const parts = text.split('\0')
  if (parts.at(-1) === '') parts.pop()
  return parts
}

export function allPids(): number[] {
  const pids: number[] = []
  for (const name of fs.readdirSync('/proc')) if (/^\d+$/.test(name)) pids.push(Number(name))
  return pids
}

export function allProcs(): ProcInfo[] {
  const out: ProcInfo[] = []
  for (const pid of allPids()) {
    const info = procStat(pid)
    if (info) out.push(info)
  }
  return out
}

/** Every live descendant of `root` (not including root), from one scan of /proc. */
export function descendants(root: number, procs: ProcInfo[] = allProcs()): ProcInfo[] {
  const children = new Map<number, ProcInfo[]>()
  for (const p of procs) {
    const list = children.get(p.ppid) ?? []
    list.push(p)
    children.set(p.ppid, list)
  }
  const out: ProcInfo[] = []
  const queue = [root]
  while (queue.length) {
    const pid = queue.shift()!
    for (const child of children.get(pid) ?? []) {
      out.push(child)
      queue.push(child.pid)
    }
  }
  return out
}

/** The last number of the NSpid line: the pid the process has in its own PID namespace. */
export function pidInsideNamespace(pid: number): number | undefined {
  const status = readText(`/proc/${pid}/status`)
  const line = status?.split('\n').find((l) => l.startsWith('NSpid:'))
  if (!line) return undefined
  return Number(line.trim().split(/\s+/).at(-1))
}

export interface MountEntry {
  id: string
  parent: string
  /** The filesystem's device, "major:minor". */
  device: string
  /** Which folder of its filesystem the mount shows ("/" for the whole filesystem, else a bind mount's source). */
  root: string
  mountPoint: string
  /** Per-mount options: "rw,nosuid,relatime". */
  options: string
  fsType: string
  source: string
  /** The filesystem's own options (for an overlay: lowerdir=...,upperdir=...,workdir=...). */
  superOptions: string
  /** Optional fields such as "shared:1" or "master:3". */
  optional: string[]
  line: string
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    const [left, right = ''] = line.split(' - ')
    const fields = left!.split(' ')
    const [fsType = '', source = '', superOptions = ''] = right.split(' ')
    out.push({
      id: fields[0]!,
      parent: fields[1]!,
      device: fields[2] ?? '',
      root: unescapeMount(fields[3] ?? ''),
      mountPoint: unescapeMount(fields[4] ?? ''),
      options: fields[5] ?? '',
      optional: fields.slice(6),
      fsType,
      source: unescapeMount(source),
      superOptions,
      line,
    })
  }
  return out
}

export function mountsOf(pid: number | 'self'): MountEntry[] | undefined {
  const text = readText(`/proc/${pid}/mountinfo`)
  return text === undefined ? undefined : parseMountinfo(text)
}

export function hostHostname(): string {
  return (readText('/proc/sys/kernel/hostname') ?? '').trim()
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
}
