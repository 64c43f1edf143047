// Runs a step's engine for real, and looks at it from the host: its init's PID, namespaces,
// cgroup files, and what it left behind.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execa, type ResultPromise } from 'execa'
import { PROJECT_ROOT } from '../../lib/steps.ts'

export const SOLUTIONS = ['01-namespaces', '02-chroot', '03-cgroups', '04-network'] as const

/**
 * Time limits grow on slow machines: MINICONTAINER_TIMEOUT_SCALE (the checker's too) is 8 in the CI's VM,
 * which runs under software emulation, where one engine run takes seconds.
 */
export const TIME_SCALE = Math.max(1, Number(process.env.MINICONTAINER_TIMEOUT_SCALE) || 1)
export const scaled = (ms: number) => ms * TIME_SCALE
/**
 * execa sends SIGKILL 5 s after its SIGTERM by default; an engine that is still cleaning up its cgroup
 * would be killed halfway and leave it behind. Tests that signal an engine wait for it to finish.
 */
const FORCE_KILL_AFTER = scaled(20_000)
export type StepId = (typeof SOLUTIONS)[number]

export function engineMain(step: string, kind: 'solutions' | 'steps' = 'solutions'): string {
  return path.join(PROJECT_ROOT, kind, step, 'main.ts')
}

export interface EngineResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** `main.ts run ARGS...`, to the end. */
export async function runEngine(step: string, args: string[], options: { input?: string; timeout?: number } = {}): Promise<EngineResult> {
  const child = execa(process.execPath, [engineMain(step), ...args], {
    reject: false, input: options.input ?? '', timeout: scaled(options.timeout ?? 30_000), stripFinalNewline: false,
    forceKillAfterDelay: FORCE_KILL_AFTER,
  })
  enginePids.add(child.pid!)
  const result = await child
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr }
}

export interface RunningEngine {
  process: ResultPromise
  /** The container's init as the host sees it, once it runs the command (after execve). */
  initPid: () => Promise<number>
  result: Promise<EngineResult>
}

/** Starts `main.ts run ARGS...` without waiting; the command should run for a while. */
export function startEngine(step: string, args: string[]): RunningEngine {
  const child = execa(process.execPath, [engineMain(step), ...args], { reject: false, timeout: scaled(60_000), forceKillAfterDelay: FORCE_KILL_AFTER, stdin: 'ignore' })
  const result = child.then((r) => ({ exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) }))
  // init is a Node process until it execve()s the command: wait for that.
  const node = fs.realpathSync(process.execPath)
  const initPid = async () => {
    for (let i = 0; i < scaled(500); i++) {
      const pid = childrenOf(child.pid!)[0]
      if (pid && exeOf(pid) !== node && exeOf(pid) !== '') return pid
      await sleep(10)
    }
    throw new Error(`the engine (pid ${child.pid}) never started a command: ${(await result).stderr}`)
  }
  running.add(child)
  enginePids.add(child.pid!)
  void result.then(() => running.delete(child))
  return { process: child, initPid, result }
}

const running = new Set<ResultPromise>()
/** Every engine started since the last hostState(): their cgroups are named after them. */
const enginePids = new Set<number>()

/** Kills every engine a test started and did not see end (a failed assertion midway). */
export async function killRunningEngines(): Promise<void> {
  for (const child of running) child.kill('SIGKILL')
  await Promise.all([...running].map((child) => child.catch(() => {})))
  running.clear()
}

function exeOf(pid: number): string {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`)
  } catch {
    return ''
  }
}

export function childrenOf(pid: number): number[] {
  const children: number[] = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // /proc/PID/stat: "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return children
}

export function readComm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return ''
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export function nsLink(pid: number | 'self', ns: string): string {
  return fs.readlinkSync(`/proc/${pid}/ns/${ns}`)
}

export type CgroupVersion = 1 | 2
export function hostCgroupVersion(): CgroupVersion {
  return fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? 2 : 1
}

/** The host path of a process's cgroup for a controller, from /proc/PID/cgroup. */
export function cgroupDirOf(pid: number, controller: 'memory' | 'cpu' | 'pids'): string {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')
  if (hostCgroupVersion() === 2) return path.join('/sys/fs/cgroup', lines.find((l) => l.startsWith('0::'))!.slice(3))
  const line = lines.find((l) => l.split(':')[1]!.split(',').includes(controller))
  if (!line) throw new Error(`no ${controller} line in /proc/${pid}/cgroup`)
  return path.join('/sys/fs/cgroup', controller, line.split(':')[2]!)
}

export function oomKills(memoryDir: string): number {
  const file = path.join(memoryDir, hostCgroupVersion() === 2 ? 'memory.events' : 'memory.oom_control')
  return Number(/^oom_kill (\d+)$/m.exec(fs.readFileSync(file, 'utf8'))?.[1] ?? 0)
}

/** What a container must not leave on the host. */
export interface HostState {
  hostname: string
  mounts: string[]
  cgroups: string[]
  processes: number[]
}

/**
 * The host as the engines started from now on could change it. Cgroups: only those of these
 * engines (mc-<engine pid>-...), so that other containers on the machine do not count.
 */
export function hostState(): HostState {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').map((l) => l.split(' ')[4]!).sort()
  const parents = hostCgroupVersion() === 2 ? ['/sys/fs/cgroup'] : ['memory', 'cpu', 'pids'].map((c) => `/sys/fs/cgroup/${c}`)
  const ours = (name: string) => enginePids.has(Number(/^mc-(\d+)-/.exec(name)?.[1]))
  const cgroups = parents.flatMap((dir) => {
    const parent = path.join(dir, 'minicontainer')
    return fs.existsSync(parent) ? fs.readdirSync(parent).filter(ours).map((n) => path.join(parent, n)) : []
  })
  return { hostname: os.hostname(), mounts, cgroups, processes: descendantsOf(process.pid) }
}

export function descendantsOf(pid: number): number[] {
  const direct = childrenOf(pid)
  return [...direct, ...direct.flatMap(descendantsOf)]
}
