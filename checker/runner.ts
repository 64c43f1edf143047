// Runs the learner's engine once, for real, and never lets it escape: its own process group, a timeout, capped
// output, the whole tree (and the container's cgroups) killed at the end whatever happened (process-tree.ts).
//
// A probe run is `/bin/sh -c SCRIPT TOKEN`: the script prints `@mc key=value` facts, and may pause after printing
// `@mc ready` (probe-output.ts), so the checker can look at the live container from the host side
// (/proc/<pid>/ns, its cgroup files, the host's mount table) before letting it finish.
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'
import fs from 'node:fs'
import path from 'node:path'
import { formatCommandLine, shellQuote } from '../lib/shell.ts'
import { projectPath } from '../lib/steps.ts'
import { timeoutScale } from '../lib/timeouts.ts'
import { CappedText, ReadyDetector, parseFacts } from './probe-output.ts'
import { ProcessTree, ourPids } from './process-tree.ts'
import { allProcs, cmdline, descendants, sleep } from './proc.ts'
import { LAYER_NAME, layersRoot } from '../lib/layers.ts'
import { mountsUnder } from './scratch.ts'
import { randomToken } from './random.ts'
import { inWorld, type MountWorld } from './worlds.ts'

export { ourPids, parseFacts }

/** The test network an engine of step 08 on runs in (checker/test-network.ts): never the real host's network. */
export interface NetworkHost {
  /** argv that runs argv inside the test network's host namespace. */
  wrap(argv: string[]): string[]
  /** The environment of engines there (MINICONTAINER_NET_DIR: a network state folder of their own, for the leases). */
  env(): Record<string, string>
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
  /**
   * Or the engine's whole command line after main.js, instead of `run FLAGS -- COMMAND` (step 09: `pull IMAGE`,
   * `images`, or `run IMAGE` with no command, which runs the image's own).
   */
  engineArgs?: string[]
  /** Append the run's token to `command` as its last argument, so the runner finds its process (and onReady works). */
  appendToken?: boolean
  /** Descriptors of the checker handed to the engine at the given numbers ({ 40: fd }), as a leaky caller would. */
  passFds?: Record<number, number>
  /** Leave the engine's leftover layer folders (step 06) in place for the check to judge (it removes them itself). */
  keepLayers?: boolean
  /** Run the engine inside a throw-away mount namespace that plays a host whose mounts are shared (worlds.ts). */
  world?: MountWorld
  /** Variables added to the engine's environment (e.g. a canary the command must not get). */
  env?: Record<string, string>
  /** A program that starts the engine (it execs it), e.g. setpriv to hand the engine an inheritable capability set. */
  launcher?: string[]
  timeoutMs?: number
  /** Called when the probe printed `@mc ready`; the container waits until this returns. */
  onReady?: (ctx: ReadyContext) => Promise<void> | void
}

export interface RunResult {
  token: string
  /** The command line, as a learner would type it, with a probe script shown as `<probe, N commands>`. */
  commandLine: string
  /** The same with the whole probe script (--verbose). */
  fullCommandLine: string
  exitCode: number | null
  signal: string | null
  timedOut: boolean
  stdout: string
  stderr: string
  facts: Map<string, string>
  /** Whether the script reached `@mc ready` and the checker looked at the live container. */
  sawReady: boolean
  containerPid: number | undefined
  /** The engine's own pid (the process spawned: wrappers exec it). */
  enginePid: number | undefined
  /** The container's cgroup directories, as seen while it ran. */
  cgroupDirs: string[]
  /** Processes still alive after the engine exited (killed by the checker). */
  leftovers: string[]
  /** Cgroups of the container that were still there after the engine exited (removed by the checker). */
  leftoverCgroups: string[]
  /** Layer folders (step 06: $MINICONTAINER_HOME/containers/mc-<engine pid>-*) still there after it exited (removed by the checker). */
  leftoverLayers: string[]
  durationMs: number
  /**
   * Whether the engine was asked to run a container (`run ...`), not another of its commands (step 09's `pull`,
   * `images`, `rmi`): only a run has a command that can fail to start, the root cause the report leads with.
   */
  startsContainer: boolean
  /** An error from the onReady hook (a failing host-side probe). */
  readyError: unknown
}

const active = new Set<{ kill: () => Promise<void> }>()

/** Kills every engine still running (Ctrl-C). */
export async function killAllRuns(): Promise<void> {
  await Promise.all([...active].map((r) => r.kill()))
}

/**
 * Finds the host pid of the container's command: a descendant of root whose argv is exactly the command given to the
 * engine ([/bin/sh, -c, script, token] for a probe), which ends with the run's token.
 */
function findContainerPid(rootPid: number, command: string[]): number | undefined {
  const candidates = descendants(rootPid, allProcs()).filter((p) => {
    const argv = cmdline(p.pid)
    // Exactly that: a wrapper whose arguments end with the engine's (worlds.ts) is not it.
    return argv !== undefined && argv.length === command.length && argv.every((arg, i) => arg === command[i])
  })
  // Command substitutions fork copies of the shell: take the top-most one.
  const pids = new Set(candidates.map((c) => c.pid))
  return candidates.find((c) => !pids.has(c.ppid))?.pid
}

/**
 * The layer folders (step 06) of engines of this run that are over: the engines name them mc-<engine pid>-<random>
 * under $MINICONTAINER_HOME/containers.
 */
function layersOf(pids: number[]): string[] {
  let names: string[]
  try {
    names = fs.readdirSync(layersRoot())
  } catch {
    return []
  }
  const over = new Set(pids.filter((pid) => !fs.existsSync(`/proc/${pid}`)).map(String))
  return names.filter((name) => over.has(LAYER_NAME.exec(name)?.[1] ?? '')).map((name) => path.join(layersRoot(), name))
}

/** Removes leftover layer folders, as leftover cgroups are: never through a mount (host.clean repairs that first). */
export function removeLayers(dirs: string[]): void {
  for (const dir of dirs) {
    if (mountsUnder(dir).length) continue
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 })
  }
}

/** A probe script in a "ran:" line: `<probe: 3 commands, --verbose shows them>` (short ones stay). */
function probePlaceholder(script: string | undefined): string | undefined {
  if (script === undefined || script.length < 80) return undefined
  const count = script.split(/; |\n/).filter((part) => part.trim()).length
  return `<probe: ${count} commands, --verbose shows them>`
}

/**
 * Runs the engine once. With a `network` (step 08 on), inside the test network's host namespace: its bridge, veths
 * and NAT rules never touch the real host's network.
 */
export async function runEngine(engineDir: string, options: RunOptions, network?: NetworkHost): Promise<RunResult> {
  const token = randomToken()
  const command = options.script !== undefined ? ['/bin/sh', '-c', options.script, token] : [...(options.command ?? ['/bin/true']), ...(options.appendToken ? [token] : [])]
  const main = path.join(engineDir, 'main.js')
  const engineCommand = options.engineArgs ?? ['run', ...(options.flags ?? []), '--', ...command]
  const engineArgv = [process.execPath, main, ...engineCommand]
  const wrap = (engine: string[]): string[] => {
    const argv = [...(options.launcher ?? []), ...engine]
    return options.world ? inWorld(options.world, argv) : argv
  }
  const shown = (placeholder?: string): string => {
    let line = formatCommandLine(wrap(['node', projectPath(main), ...engineCommand]))
    if (placeholder && options.script !== undefined) line = line.replace(shellQuote(options.script), placeholder)
    return network ? `[in the test network] ${line}` : line
  }
  const timeoutMs = (options.timeoutMs ?? 15_000) * timeoutScale()
  const started = Date.now()

  // nsenter execs what follows (a network namespace needs no fork): the pid spawned stays the tree's root, and the
  // descriptors passed stay the engine's.
  const argv = network ? network.wrap(wrap(engineArgv)) : wrap(engineArgv)
  const stdio: ('pipe' | 'ignore' | number)[] = ['pipe', 'pipe', 'pipe']
  for (const [at, fd] of Object.entries(options.passFds ?? {})) {
    while (stdio.length <= Number(at)) stdio.push('ignore')
    stdio[Number(at)] = fd
  }
  // stdin, stdout and stderr are always pipes (the descriptors after them are the caller's to pass).
  const child = spawn(argv[0]!, argv.slice(1), {
    detached: true,
    stdio,
    env: { ...process.env, ...network?.env(), ...options.env },
  }) as ChildProcessByStdio<Writable, Readable, Readable>
  child.stdin.on('error', () => {})
  const tree = child.pid === undefined ? undefined : new ProcessTree(child.pid)
  const stdout = new CappedText()
  const stderr = new CappedText()
  const ready = new ReadyDetector()
  let timedOut = false
  let readyError: unknown
  let containerPid: number | undefined
  let readyHandled: Promise<void> | undefined

  const kill = async (): Promise<void> => {
    tree?.killAll()
    await tree?.removeCgroups()
  }
  const entry = { kill }
  active.add(entry)

  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }))
    child.on('error', (error) => {
      stderr.add(Buffer.from(`(could not start: ${error.message})\n`))
      resolve({ code: null, signal: null })
    })
  })
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()))

  const findContainer = (): void => {
    if (containerPid !== undefined || !tree || (options.script === undefined && !options.appendToken)) return
    containerPid = findContainerPid(tree.rootPid, command)
    if (containerPid !== undefined) tree.adopt(containerPid)
  }

  // The probe paused: find its process, let the check read the host's view of it, then let it go on.
  const onReady = async (): Promise<void> => {
    for (let i = 0; i < 25 && containerPid === undefined; i++) {
      findContainer()
      if (containerPid === undefined) await sleep(20)
    }
    tree?.remember()
    try {
      await options.onReady?.({
        token,
        pid: containerPid,
        rootPid: tree!.rootPid,
        hostMountinfoPid: options.world ? tree!.rootPid : 'self',
        facts: parseFacts(stdout.toString()),
      })
    } catch (error) {
      readyError = error
    }
    tree?.remember()
    child.stdin.end('\n')
  }

  child.stdout.on('data', (chunk: Buffer) => {
    const piece = stdout.add(chunk)
    if (tree && ready.feed(piece)) readyHandled = onReady()
  })
  child.stderr.on('data', (chunk: Buffer) => void stderr.add(chunk))
  if (!options.onReady && options.script === undefined) child.stdin.end()

  const timer = setTimeout(() => {
    timedOut = true
    void kill()
  }, timeoutMs)
  // While the engine runs, keep learning its tree (so a process that escapes the group is still found).
  const watcher = setInterval(() => {
    findContainer()
    tree?.remember()
  }, 100)

  const { code, signal } = await exited
  // Right when the engine exits, its cgroups must be gone already (another engine starting meanwhile may sweep up
  // stale ones, which would hide the leak).
  const stillThere = [...(tree?.cgroupDirs ?? [])].filter((d) => fs.existsSync(d))
  clearInterval(watcher)
  if (!options.onReady) child.stdin.end()
  if (readyHandled) await readyHandled
  // Give the kernel a moment to tear down the PID namespace, then anything still alive is a leftover.
  await Promise.race([closed, sleep(300)])
  await sleep(30)
  const leftovers = (tree?.killAll() ?? []).filter((d) => !d.startsWith(`pid ${tree?.rootPid}:`))
  await tree?.removeCgroups()
  const leftoverLayers = layersOf(tree?.pids ?? [])
  if (!options.keepLayers) removeLayers(leftoverLayers)
  await Promise.race([closed, sleep(2000)])
  clearTimeout(timer)
  active.delete(entry)
  child.stdout.destroy()
  child.stderr.destroy()
  const out = stdout.toString()
  return {
    token,
    startsContainer: engineCommand[0] === 'run',
    commandLine: shown(probePlaceholder(options.script)),
    fullCommandLine: shown(),
    exitCode: code,
    signal,
    timedOut,
    stdout: out,
    stderr: stderr.toString(),
    facts: parseFacts(out),
    sawReady: ready.seen,
    containerPid,
    enginePid: child.pid,
    cgroupDirs: [...(tree?.cgroupDirs ?? [])],
    leftovers,
    leftoverCgroups: timedOut ? [] : stillThere,
    leftoverLayers,
    durationMs: Date.now() - started,
    readyError,
  }
}
