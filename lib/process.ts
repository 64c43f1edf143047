// Process plumbing every step shares and the learner does not write: checking the host, starting
// the container's first process ("init") as a second Node process, handing it its configuration,
// supervising it, and finally replacing init by the user's command with execve().
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { EXIT, FriendlyError } from './errors.ts'
import { CLONE_NEWPID, closeOnExecFrom, execve, keepOpenAcrossExec, restoreDefaultSignals, setns } from './libc.ts'

/** The hidden sub-command with which the engine re-runs itself as the container's init. */
export const INIT_SUBCOMMAND = '__init'
/** init receives its configuration on this file descriptor (a pipe), then waits for EOF. */
const CONFIG_FD = 3
/**
 * A socket both ways between the engine and init, for a pause in the middle of init's set-up: init says
 * "paused" once its namespaces exist and waits until the host side has done its part with them (runc's
 * parent and child synchronise the same way before its hooks run). Used from step 08 on.
 */
const SYNC_FD = 4

/** What init needs to know, sent as JSON over fd 3. */
export interface InitConfig {
  command: string[]
  hostname: string
  /** undefined before step 02: the host's own filesystem. */
  rootfs?: string
  /** undefined before step 02: the engine's own environment. */
  env?: Record<string, string>
}

/** Fails early, with what to do, where containers cannot run. */
export function assertHostCanRunContainers(): void {
  if (os.platform() !== 'linux') {
    throw new FriendlyError(`containers need the Linux kernel, and this is ${os.platform()}`, {
      hint: 'work inside the workshop VM: see vagrant/README.md (`vagrant up`, then `vagrant ssh`)',
    })
  }
  if (process.geteuid?.() !== 0) {
    throw new FriendlyError('creating namespaces, mounts and cgroups needs root', { hint: 'run it with sudo' })
  }
}

/** Before step 02 the command runs on the host's files, with the engine's own environment. */
export function engineEnvironment(): Record<string, string> {
  const { NODE_COMPILE_CACHE: _engineOnly, ...env } = process.env
  return env as Record<string, string>
}

/** The environment of a container: only what a shell needs, nothing leaked from the host. */
export function containerEnvironment(hostname: string): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    TERM: process.env.TERM || 'xterm',
    HOSTNAME: hostname,
  }
}

// ---- Host side ---------------------------------------------------------------------------------
export interface Init {
  /** The init process's PID as the host sees it (inside the container it is 1). */
  pid: number
  /** Sends the configuration; init starts its work only once it has it. */
  start(config: InitConfig): void
  /** Resolves with the exit status: the command's code, or 128 + the signal that killed it. */
  exited: Promise<number>
  /**
   * Resolves true once init has paused in waitForHost() (its namespaces exist, its command has not
   * started), false if it exited before that.
   */
  paused(): Promise<boolean>
  /** Lets a paused init go on. */
  resume(): void
}

// The init process once spawned, and a stop signal that came before it existed.
let currentInit: ChildProcess | undefined
let stopRequested: NodeJS.Signals | undefined
let emulatedSignal: NodeJS.Signals | undefined
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']

/**
 * Call first: from now on SIGINT, SIGTERM and SIGHUP stop the container instead of killing the
 * engine halfway (which would leave its cgroup behind).
 */
export function trapStopSignals(): void {
  for (const signal of STOP_SIGNALS) process.on(signal, onStopSignal)
}

/**
 * Forwards a stop signal to init. A PID 1 ignores every signal it has no handler for (even
 * SIGTERM from the host), so for such a signal the engine does what the default action would
 * have done: kill it (SIGKILL always works) and report 128 + signal.
 */
function onStopSignal(signal: NodeJS.Signals): void {
  const init = currentInit
  if (!init || init.exitCode !== null) {
    stopRequested ??= signal // init does not exist yet: it will be stopped as soon as it does
    return
  }
  if (initCatchesSignal(init.pid!, os.constants.signals[signal])) {
    // A terminal already sent SIGINT to the whole foreground process group, init included.
    if (!(signal === 'SIGINT' && process.stdin.isTTY)) init.kill(signal)
    return
  }
  emulatedSignal = signal
  init.kill('SIGKILL')
}

/**
 * Re-runs this engine's entry file as a new process with INIT_SUBCOMMAND. If the caller
 * unshared CLONE_NEWPID first, this child is PID 1 of the new PID namespace.
 */
export async function spawnInit(): Promise<Init> {
  const entry = process.argv[1]!
  const child = spawn(process.execPath, [...process.execArgv, entry, INIT_SUBCOMMAND], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe', 'pipe'],
  })
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', (error: NodeJS.ErrnoException) => reject(new FriendlyError(
      `could not start the container's init process: ${error.code ?? error.message}`,
      { hint: error.code === 'ENOMEM' ? 'after unshare(CLONE_NEWPID) only ONE process can be spawned into the new namespace' : undefined })))
  })
  currentInit = child
  // After unshare(CLONE_NEWPID), every later child of this thread would be born into the container's PID
  // namespace too (and fail with ENOMEM once init is gone). Init is born: later helpers (nft) belong to the
  // host, so point this thread's pid_for_children back at its own PID namespace.
  restoreChildPidNamespace()
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => {
      const stoppedBy = emulatedSignal ?? signal
      resolve(stoppedBy ? EXIT.SIGNAL_BASE + os.constants.signals[stoppedBy] : code ?? EXIT.ENGINE_FAILED)
    })
  })
  if (stopRequested) onStopSignal(stopRequested)
  const sync = child.stdio[SYNC_FD] as unknown as NodeJS.ReadWriteStream
  sync.on('error', () => {}) // init is gone: `exited` tells the story
  const pausedOnce = new Promise<boolean>((resolve) => {
    let received = ''
    sync.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8')
      if (received.includes('paused\n')) resolve(true)
    })
    void exited.then(() => resolve(false))
  })
  return {
    pid: child.pid!,
    start(config) {
      const pipe = child.stdio[CONFIG_FD] as NodeJS.WritableStream
      pipe.on('error', () => {}) // init died before reading: its exit status tells the story
      pipe.end(JSON.stringify(config))
    },
    exited,
    paused: () => pausedOnce,
    resume() {
      sync.write('resume\n')
    },
  }
}

function restoreChildPidNamespace(): void {
  const own = fs.openSync('/proc/thread-self/ns/pid', 'r') // the PID namespace this thread itself is in
  try {
    setns(own, CLONE_NEWPID, 'setns(own PID namespace, CLONE_NEWPID)')
  } finally {
    fs.closeSync(own)
  }
}

/** Whether a process has a handler for a signal (or is already gone). */
function initCatchesSignal(pid: number, signal: number): boolean {
  return signalsIn(pid, 'SigCgt')?.includes(signal) ?? false
}

/**
 * The signals of one mask of /proc/PID/status: SigIgn (ignored), SigCgt (caught by a handler).
 * undefined when the process is gone.
 */
function signalsIn(pid: number | 'self', mask: 'SigIgn' | 'SigCgt'): number[] | undefined {
  let status: string
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return undefined
  }
  const bits = BigInt('0x' + (new RegExp(`^${mask}:\\s*([0-9a-f]+)`, 'm').exec(status)?.[1] ?? '0'))
  return Array.from({ length: 64 }, (_, i) => i + 1).filter((signal) => bits & (1n << BigInt(signal - 1)))
}

// ---- Container side (init) -------------------------------------------------------------------
let signalsToRestore: number[] = []

/**
 * Reads the configuration from fd 3. Blocks until the host side has sent it (and, from step 03,
 * has put this process into its cgroup). An empty read means the engine died first.
 */
export function receiveConfig(): InitConfig {
  // Read now, while the host's /proc is still there: after chroot there may be no /proc at all.
  signalsToRestore = signalsIn('self', 'SigIgn') ?? []
  const text = fs.readFileSync(CONFIG_FD, 'utf8')
  fs.closeSync(CONFIG_FD) // the command must not inherit it
  if (!text) process.exit(EXIT.ENGINE_FAILED)
  return JSON.parse(text) as InitConfig
}

/**
 * Container side: tells the engine that init's namespaces exist, and waits (blocking: nothing else may run
 * meanwhile) until the engine has done its part with them, e.g. plugged a network cable into the new network
 * namespace. If the engine is gone instead, there is nothing left to wait for: exit.
 */
export function waitForHost(): void {
  fs.writeSync(SYNC_FD, 'paused\n')
  const buffer = Buffer.alloc(64)
  let received = ''
  while (!received.includes('resume\n')) {
    const n = fs.readSync(SYNC_FD, buffer)
    if (n === 0) process.exit(EXIT.ENGINE_FAILED)
    received += buffer.toString('utf8', 0, n)
  }
  fs.closeSync(SYNC_FD)
}

/**
 * Replaces this process by the user's command, which thereby keeps PID 1, the namespaces, the
 * root and the cgroup. Looks the command up in PATH like a shell. Never returns.
 */
export function execCommand(command: string[], env: Record<string, string>): never {
  const [name] = command as [string]
  const file = findExecutable(name, env.PATH ?? '')
  if (!file) fail(EXIT.NOT_FOUND, `${name}: command not found in the container (PATH=${env.PATH})`)
  for (const fd of [0, 1, 2]) keepOpenAcrossExec(fd)
  closeOnExecFrom(3)
  restoreDefaultSignals(signalsToRestore)
  const error = execve(file, command, Object.entries(env).map(([key, value]) => `${key}=${value}`))
  // Still here: execve failed.
  const exists = fs.existsSync(file)
  if (!exists) fail(EXIT.NOT_FOUND, `${error.message}: no such file in the container`)
  // ENOENT for a file that exists: its #! interpreter or its dynamic loader is missing.
  fail(error.code === 'ENOENT' ? EXIT.NOT_FOUND : EXIT.CANNOT_EXECUTE, error.code === 'ENOENT'
    ? `${error.message}: the file exists, but its #! interpreter or dynamic loader is not in the container`
    : error.message)
}

function findExecutable(name: string, searchPath: string): string | undefined {
  if (name.includes('/')) return name // a path: execve will tell what is wrong with it
  for (const dir of searchPath.split(':').filter(Boolean)) {
    const candidate = path.join(dir, name)
    try {
      if (fs.statSync(candidate).isFile()) return candidate
    } catch {
      // not in this directory
    }
  }
  return undefined
}

function fail(status: number, message: string): never {
  process.stderr.write(`minicontainer: ${message}\n`)
  process.exit(status)
}

