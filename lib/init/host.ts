// The engine's host side of the container's first process: starting init (this engine re-run as INIT_SUBCOMMAND)
// as PID 1 of the new PID namespace, handing it its configuration, and supervising it: a stop signal stops the
// container rather than killing the engine halfway. How init ended (a code or a signal) is reported as it is: the
// engine turns it into its exit status (engine/all-steps/container.ts, exitStatus()).
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import { FriendlyError } from '../errors.ts'
import { containerHostProblem } from '../host-requirements.ts'
import { CLONE_NEWPID, setns } from '../libc.ts'
import { signalsIn } from '../signals.ts'
import { CONFIG_FD, INIT_SUBCOMMAND, PAUSED, RESUME, SYNC_FD, type InitConfig } from './protocol.ts'

/** Fails early, with what to do, where containers cannot run (not Linux, not root). */
export function assertHostCanRunContainers(): void {
  const problem = containerHostProblem()
  if (problem) throw new FriendlyError(problem.problem, { hint: problem.fix })
}

/** How init (by then the command) ended: an exit code, or the signal that killed it (the other one is null). */
export interface InitEnd {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface Init {
  /** The init process's PID as the host sees it (inside the container it is 1). */
  pid: number
  /** Sends the configuration; init starts its work only once it has it. */
  start(config: InitConfig): void
  /**
   * Resolves when init has ended. A stop signal the engine had to emulate with SIGKILL (see onStopSignal) is
   * reported as that signal: the container ended as the signal's default action would have ended it.
   */
  exited: Promise<InitEnd>
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
      { hint: error.code === 'ENOMEM' ? 'a new PID namespace takes only ONE first process (its PID 1): spawn init once, right after the unshare' : undefined })))
  })
  currentInit = child
  // After unshare(CLONE_NEWPID), every later child of this thread would be born into the container's PID
  // namespace too (and fail with ENOMEM once init is gone). Init is born: later helpers (nft) belong to the
  // host, so point this thread's pid_for_children back at its own PID namespace.
  restoreChildPidNamespace()
  const exited = new Promise<InitEnd>((resolve) => {
    child.once('exit', (code, signal) =>
      resolve(emulatedSignal ?? signal ? { code: null, signal: emulatedSignal ?? signal } : { code, signal: null }))
  })
  if (stopRequested) onStopSignal(stopRequested)
  const sync = child.stdio[SYNC_FD] as unknown as NodeJS.ReadWriteStream
  sync.on('error', () => {}) // init is gone: `exited` tells the story
  const pausedOnce = new Promise<boolean>((resolve) => {
    let received = ''
    sync.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8')
      if (received.includes(PAUSED)) resolve(true)
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
      sync.write(RESUME)
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

