// Runs a step's engine for real, and looks at it from the host: its init's PID, namespaces,
// cgroup files, and what it left behind.
import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { execa, type ResultPromise } from 'execa'
import { PROJECT_ROOT } from '../../lib/steps.ts'
import { testTimeScale } from '../../lib/timeouts.ts'
import { cgroupDirsOf, cgroupVersion, keyedValue, readCgroupFile } from '../../checker/cgroups.ts'
import { allProcs, descendants, readLink, readText, sleep } from '../../checker/proc.ts'

export const SOLUTIONS = [
  '01-namespaces', '02-chroot', '03-cgroups', '04-network', '05-pivot-root', '06-overlayfs', '07-security', '08-networking', '09-images',
] as const

/**
 * Time limits grow on slow machines: MINICONTAINER_TIMEOUT_SCALE (the checker's too) is 8 in the CI's VM,
 * which runs under software emulation, where one engine run takes seconds.
 */
export const TIME_SCALE = testTimeScale()
export const scaled = (ms: number) => ms * TIME_SCALE
/**
 * execa sends SIGKILL 5 s after its SIGTERM by default; an engine that is still cleaning up its cgroup
 * would be killed halfway and leave it behind. Tests that signal an engine wait for it to finish.
 */
const FORCE_KILL_AFTER = scaled(20_000)
export type StepId = (typeof SOLUTIONS)[number]

export function engineMain(step: string, kind: 'solutions' | 'steps' = 'solutions'): string {
  return path.join(PROJECT_ROOT, kind, step, 'main.js')
}

/**
 * `node main.js ARGS...`, and from step 08 on inside a network namespace made for the run that plays the host
 * (`unshare --net`, which execs the engine: same pid): its bridge, veths and NAT rules go away with it and never
 * touch the real host's network. test/test-network.test.ts tests the network itself, with an outside world.
 */
export function engineArgv(step: string, args: string[], kind: 'solutions' | 'steps' = 'solutions'): string[] {
  const argv = [process.execPath, engineMain(step, kind), ...args]
  return Number(step.slice(0, 2)) >= 8 ? ['unshare', '--net', '--', ...argv] : argv
}

export interface EngineResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** `main.js run ARGS...`, to the end. */
export async function runEngine(step: string, args: string[], options: { input?: string; timeout?: number } = {}): Promise<EngineResult> {
  const [file, ...rest] = engineArgv(step, args)
  const child = execa(file!, rest, {
    reject: false, input: options.input ?? '', timeout: scaled(options.timeout ?? 30_000), stripFinalNewline: false,
    forceKillAfterDelay: FORCE_KILL_AFTER,
  })
  const result = await child
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr }
}

export interface RunningEngine {
  process: ResultPromise
  /** The container's init as the host sees it, once it runs the command (after execve). */
  initPid: () => Promise<number>
  result: Promise<EngineResult>
}

/** Starts `main.js run ARGS...` without waiting; the command should run for a while. */
export function startEngine(step: string, args: string[]): RunningEngine {
  const [file, ...rest] = engineArgv(step, args)
  const child = execa(file!, rest, { reject: false, timeout: scaled(60_000), forceKillAfterDelay: FORCE_KILL_AFTER, stdin: 'ignore' })
  const result = child.then((r) => ({ exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) }))
  // init is a Node process until it execve()s the command: wait for that.
  const node = fs.realpathSync(process.execPath)
  // The engine's other children (from step 08, `nft`) are not the container: init is the one in a PID namespace of
  // its own (every solution makes one).
  const ownPidNs = (pid: number): boolean =>
    Boolean(readLink(`/proc/${pid}/ns/pid`)) && readLink(`/proc/${pid}/ns/pid`) !== readLink(`/proc/${child.pid}/ns/pid`)
  const initPid = async () => {
    for (let i = 0; i < scaled(500); i++) {
      const children = childrenOf(child.pid!)
      const pid = children.find(ownPidNs)
      if (pid && exeOf(pid) !== node && exeOf(pid) !== '') return pid
      await sleep(10)
    }
    throw new Error(`the engine (pid ${child.pid}) never started a command: ${(await result).stderr}`)
  }
  running.add(child)
  void result.then(() => running.delete(child))
  return { process: child, initPid, result }
}

const running = new Set<ResultPromise>()

/** Kills every engine a test started and did not see end (a failed assertion midway). */
export async function killRunningEngines(): Promise<void> {
  for (const child of running) child.kill('SIGKILL')
  await Promise.all([...running].map((child) => child.catch(() => {})))
  running.clear()
}

function exeOf(pid: number): string {
  return readLink(`/proc/${pid}/exe`) ?? ''
}

// The host-side /proc and cgroup readers are the checker's: one implementation of each kernel fact.
export { layersRoot } from '../../lib/layers.ts'
export { nsLink, sleep } from '../../checker/proc.ts'
export { cgroupVersion as hostCgroupVersion } from '../../checker/cgroups.ts'

/**
 * `main.js run ARGS...` with one of the test's descriptors handed to the engine at number `at` (not close-on-exec),
 * as a leaky caller (a terminal, an IDE, a CI runner) does; returns the command's stdout.
 */
export async function runEngineWithDescriptor(step: string, args: string[], fd: number, at: number): Promise<EngineResult> {
  const stdio: ('pipe' | 'ignore' | number)[] = ['ignore', 'pipe', 'pipe']
  while (stdio.length < at) stdio.push('ignore')
  stdio.push(fd)
  const [file, ...rest] = engineArgv(step, args) // from step 08 in a network namespace of its own, like every run
  const child = spawn(file!, rest, { stdio })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => void (stdout += chunk))
  child.stderr!.on('data', (chunk: Buffer) => void (stderr += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), scaled(30_000))
  const exitCode = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)))
  clearTimeout(timer)
  return { exitCode, stdout, stderr }
}

export function childrenOf(pid: number): number[] {
  return allProcs().filter((p) => p.ppid === pid).map((p) => p.pid)
}

export function readComm(pid: number): string {
  return readText(`/proc/${pid}/comm`)?.trim() ?? ''
}

/** The host path of a process's cgroup for a controller, from /proc/PID/cgroup. */
export function cgroupDirOf(pid: number, controller: 'memory' | 'cpu' | 'pids'): string {
  const dir = cgroupDirsOf(pid)?.[controller]
  if (!dir) throw new Error(`no ${controller} cgroup in /proc/${pid}/cgroup`)
  return dir
}

/** The kernel's OOM-kill counter of a memory cgroup: memory.events (v2) or memory.oom_control (v1). */
export function oomKills(memoryDir: string): number {
  const file = cgroupVersion() === 2 ? 'memory.events' : 'memory.oom_control'
  return keyedValue(readCgroupFile(memoryDir, file), 'oom_kill') ?? 0
}

export function descendantsOf(pid: number): number[] {
  return descendants(pid).map((p) => p.pid)
}
