// Runs the learner's engine once, for real, and never lets it escape: its own process group, a timeout,
// capped output, the whole tree (and the container's cgroup) killed at the end whatever happened.
//
// A probe run is `/bin/sh -c SCRIPT TOKEN`: the script prints `@mc key=value` facts, and may pause after
// printing `@mc ready` (it then waits on `read`), so the checker can look at the live container from the
// host side (/proc/<pid>/ns, its cgroup files, the host's mount table) before letting it finish.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { PROJECT_ROOT } from '../lib/steps.ts'
import { cgroupDirsOf, cgroupPids, hierarchies, killAndRemoveCgroup } from './cgroups.ts'
import { allProcs, cmdline, descendants, killQuietly, sleep, type ProcInfo } from './proc.ts'
import { describe } from './host.ts'

/** Where the engine runs when it builds a network (step 08 on): checker/world.ts's World. */
export interface NetworkWorld {
  /** argv that runs argv inside the world's host network namespace. */
  wrap(argv: string[]): string[]
  /** The environment of engines in the world (their own MINICONTAINER_HOME for leases). */
  env(): Record<string, string>
}

const OUTPUT_CAP = 64 * 1024

/** A path as the learner would type it: relative inside the project, absolute outside. */
export function displayPath(file: string): string {
  const rel = path.relative(PROJECT_ROOT, file)
  return rel && !rel.startsWith('..') ? rel : file
}

export function timeoutScale(): number {
  const scale = Number(process.env.MINICONTAINER_TIMEOUT_SCALE ?? '1')
  return Number.isFinite(scale) && scale > 0 ? scale : 1
}

/** A random lowercase token: `mc-` + 10 characters, a valid hostname and file name. */
export function randomToken(prefix = 'mc'): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  const bytes = randomBytes(10)
  let out = ''
  for (const b of bytes) out += alphabet[b % alphabet.length]
  return `${prefix}-${out}`
}

export interface ReadyContext {
  /** The run's random token (the probe's $0). */
  token: string
  /** Host pid of the container's command (the `sh` running the probe), if it could be found. */
  pid: number | undefined
  /** Host pid of the engine process (or of the wrapper when wrapped). */
  rootPid: number
  /** Which mount table is "the host" for this run: /proc/self, or the wrapper's when wrapped. */
  hostMountinfoPid: number | 'self'
  facts: Map<string, string>
}

export interface RunOptions {
  /** Engine flags before `--`, e.g. ['--hostname', 'x']. */
  flags?: string[]
  /** A /bin/sh script (the probe); the run's token is passed as $0. */
  script?: string
  /** Or a plain command. */
  command?: string[]
  /** Run the engine inside a throw-away mount namespace whose mounts are all shared (as systemd makes them). */
  sharedMounts?: boolean
  timeoutMs?: number
  /** Called when the probe printed `@mc ready`; the container waits until this returns. */
  onReady?: (ctx: ReadyContext) => Promise<void> | void
}

export interface RunResult {
  token: string
  /** The command line, as a learner would type it. */
  commandLine: string
  exitCode: number | null
  signal: string | null
  timedOut: boolean
  stdout: string
  stderr: string
  facts: Map<string, string>
  /** Whether the script reached `@mc ready` and the checker looked at the live container. */
  sawReady: boolean
  containerPid: number | undefined
  /** The container's cgroup directories, as seen while it ran. */
  cgroupDirs: string[]
  /** Processes still alive after the engine exited (killed by the checker). */
  leftovers: string[]
  /** Cgroups of the container that were still there after the engine exited (removed by the checker). */
  leftoverCgroups: string[]
  durationMs: number
  /** An error from the onReady hook (a failing host-side probe). */
  readyError: unknown
}

interface ActiveRun {
  rootPid: number
  kill: () => Promise<void>
}

const active = new Set<ActiveRun>()

/** Every pid the checker's runs ever had (engines, wrappers, containers): to tell our leaks from others'. */
export const ourPids = new Set<number>()

/** Kills every engine still running (Ctrl-C). */
export async function killAllRuns(): Promise<void> {
  await Promise.all([...active].map((r) => r.kill()))
}

function shellQuote(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg
  return `'${arg.replace(/'/g, `'\\''`)}'`
}

export function formatCommandLine(argv: string[]): string {
  return argv.map(shellQuote).join(' ')
}

/** Finds the host pid of the probe: a descendant of root whose argv is exactly [/bin/sh, -c, script, token]. */
function findContainerPid(rootPid: number, token: string): number | undefined {
  const procs = allProcs()
  const candidates = descendants(rootPid, procs).filter((p) => {
    const argv = cmdline(p.pid)
    return argv !== undefined && argv.length >= 2 && argv.at(-1) === token && !/node/.test(path.basename(argv[0] ?? ''))
  })
  // Command substitutions fork copies of the shell: take the top-most one.
  const pids = new Set(candidates.map((c) => c.pid))
  const top = candidates.find((c) => !pids.has(c.ppid))
  return top?.pid
}

let ownCgroups: string[] | undefined
/** The checker's own cgroups and their parents: never killed nor removed, whatever a broken engine did. */
function isOwnCgroupOrAncestor(dir: string): boolean {
  ownCgroups ??= Object.values(cgroupDirsOf(process.pid) ?? {}).map((d) => d.replace(/\/+$/, ''))
  const clean = dir.replace(/\/+$/, '')
  if (hierarchies().some((h) => h.mountPoint === clean)) return true
  return ownCgroups.some((own) => own === clean || own.startsWith(clean + '/'))
}

export function parseFacts(stdout: string): Map<string, string> {
  const facts = new Map<string, string>()
  for (const line of stdout.split('\n')) {
    const m = /^@mc ([\w.-]+)=(.*)$/.exec(line.trimEnd())
    if (m) facts.set(m[1]!, m[2]!)
  }
  return facts
}

/**
 * Runs the engine once. With a `world` (step 08 on), inside the world's host network namespace: its bridge,
 * veths and NAT rules never touch the real host's network.
 */
export async function runEngine(engineDir: string, options: RunOptions, world?: NetworkWorld): Promise<RunResult> {
  const token = randomToken()
  const command = options.script !== undefined ? ['/bin/sh', '-c', options.script, token] : (options.command ?? ['/bin/true'])
  const main = path.join(engineDir, 'main.ts')
  const engineArgv = [process.execPath, main, 'run', ...(options.flags ?? []), '--', ...command]
  const unwrapped = options.sharedMounts ? ['unshare', '--mount', '--propagation', 'shared', '--fork', '--', ...engineArgv] : engineArgv
  // nsenter and unshare exec what follows (no fork for the network namespace), so the engine keeps the pid spawned.
  const argv = world ? world.wrap(unwrapped) : unwrapped
  const shown = [options.sharedMounts ? 'unshare --mount --propagation shared --fork --' : '', 'node', displayPath(main), 'run', ...(options.flags ?? []), '--', ...command].filter(Boolean)
  const commandLine = (world ? '[in the test network] ' : '') + formatCommandLine(shown)
  const timeoutMs = (options.timeoutMs ?? 15_000) * timeoutScale()
  const started = Date.now()

  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...world?.env() } })
  const rootPid = child.pid
  if (rootPid !== undefined) ourPids.add(rootPid)
  let stdout = ''
  let stderr = ''
  let stdoutBytes = 0
  let stderrBytes = 0
  let timedOut = false
  let sawReady = false
  let readyError: unknown
  let containerPid: number | undefined
  const cgroupDirs = new Set<string>()
  /** Every process seen in the engine's tree, pid -> start time (a daemon that left the group is still ours). */
  const seenTree = new Map<number, number>()
  let readyHandled: Promise<void> | undefined
  child.stdin.on('error', () => {})

  const remember = (): void => {
    if (rootPid === undefined) return
    ourPids.add(rootPid)
    // The cgroups of every process of the run (not only the probe's: a run killed on timeout leaves the
    // engine no chance to remove them, so the checker does).
    for (const p of descendants(rootPid)) {
      seenTree.set(p.pid, p.startTime)
      ourPids.add(p.pid)
      const dirs = cgroupDirsOf(p.pid)
      if (dirs) for (const d of new Set(Object.values(dirs))) if (d && !isOwnCgroupOrAncestor(d)) cgroupDirs.add(d)
    }
  }

  const killEverything = async (): Promise<string[]> => {
    const victims = new Map<number, string>()
    const procs: ProcInfo[] = allProcs()
    const alive = new Set(procs.filter((p) => p.state !== 'Z').map((p) => p.pid))
    const add = (pid: number): void => {
      if (pid !== process.pid && alive.has(pid) && !victims.has(pid)) victims.set(pid, describe(pid))
    }
    if (rootPid !== undefined) {
      for (const p of procs) if (p.pgid === rootPid) add(p.pid)
      add(rootPid)
      for (const d of descendants(rootPid, procs)) add(d.pid)
    }
    for (const [pid, startTime] of seenTree) {
      // The same pid with the same start time is the same process (pids are reused, start times are not).
      const p = procs.find((x) => x.pid === pid)
      if (p && p.startTime === startTime) {
        add(pid)
        for (const d of descendants(pid, procs)) add(d.pid)
      }
    }
    if (containerPid !== undefined) {
      add(containerPid)
      for (const d of descendants(containerPid, procs)) add(d.pid)
    }
    for (const dir of cgroupDirs) for (const pid of cgroupPids(dir)) add(pid)
    if (rootPid !== undefined) killQuietly(-rootPid)
    for (const pid of victims.keys()) killQuietly(pid)
    return [...victims.values()]
  }

  const entry: ActiveRun = {
    rootPid: rootPid ?? -1,
    kill: async () => {
      await killEverything()
      for (const dir of cgroupDirs) await killAndRemoveCgroup(dir)
    },
  }
  active.add(entry)

  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }))
    child.on('error', (error) => {
      stderr += `(could not start: ${error.message})\n`
      resolve({ code: null, signal: null })
    })
  })
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()))

  const onReadyLine = (): void => {
    if (sawReady || rootPid === undefined) return
    sawReady = true
    readyHandled = (async () => {
      for (let i = 0; i < 25 && containerPid === undefined; i++) {
        containerPid = findContainerPid(rootPid, token)
        if (containerPid === undefined) await sleep(20)
      }
      remember()
      try {
        await options.onReady?.({ token, pid: containerPid, rootPid, hostMountinfoPid: options.sharedMounts ? rootPid : 'self', facts: parseFacts(stdout) })
      } catch (error) {
        readyError = error
      }
      remember()
      child.stdin.end('\n')
    })()
  }

  let stdoutTail = '\n' // the end of everything printed, to see `@mc ready` even after a flood past the cap
  child.stdout.on('data', (chunk: Buffer) => {
    stdoutBytes += chunk.length
    const text = chunk.toString('utf8')
    if (stdout.length < OUTPUT_CAP) stdout += text
    stdoutTail = (stdoutTail + text).slice(-4096)
    if (!sawReady && /\n@mc ready\r?\n/.test(stdoutTail)) onReadyLine()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderrBytes += chunk.length
    if (stderr.length < OUTPUT_CAP) stderr += chunk.toString('utf8')
  })
  if (!options.onReady && options.script === undefined) child.stdin.end()

  const timer = setTimeout(() => {
    timedOut = true
    void entry.kill()
  }, timeoutMs)
  // While the engine runs, keep learning its tree (so a process that escapes the group is still found).
  const watcher = setInterval(() => {
    if (containerPid === undefined && rootPid !== undefined && options.script !== undefined) containerPid = findContainerPid(rootPid, token)
    remember()
  }, 100)

  const { code, signal } = await exited
  // Right when the engine exits, its cgroups must be gone already (another engine starting meanwhile may
  // sweep up stale ones, which would hide the leak).
  const stillThere = [...cgroupDirs].filter((d) => fs.existsSync(d))
  clearInterval(watcher)
  if (!options.onReady) child.stdin.end()
  if (readyHandled) await readyHandled
  // Give the kernel a moment to tear down the PID namespace, then anything still alive is a leftover.
  await Promise.race([closed, sleep(300)])
  await sleep(30)
  const leftovers = (await killEverything()).filter((d) => !d.startsWith(`pid ${rootPid}:`))
  const leftoverCgroups: string[] = timedOut ? [] : stillThere
  for (const dir of cgroupDirs) await killAndRemoveCgroup(dir)
  await Promise.race([closed, sleep(2000)])
  clearTimeout(timer)
  active.delete(entry)
  child.stdout.destroy()
  child.stderr.destroy()
  if (stdoutBytes > OUTPUT_CAP) stdout += `\n[... ${stdoutBytes - OUTPUT_CAP} more bytes cut]`
  if (stderrBytes > OUTPUT_CAP) stderr += `\n[... ${stderrBytes - OUTPUT_CAP} more bytes cut]`
  return {
    token,
    commandLine,
    exitCode: code,
    signal,
    timedOut,
    stdout,
    stderr,
    facts: parseFacts(stdout),
    sawReady,
    containerPid,
    cgroupDirs: [...cgroupDirs],
    leftovers,
    leftoverCgroups,
    durationMs: Date.now() - started,
    readyError,
  }
}
