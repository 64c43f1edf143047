// The engine's host side of the container's first process: starting init (this engine re-run as INIT_SUBCOMMAND)
// as PID 1 of the new PID namespace, handing it its configuration, and supervising it: a stop signal stops the
// container rather than killing the engine halfway. How init ended (a code or a signal) is reported as it is: the
// engine turns it into its exit status (engine/all-steps/container.ts, exitStatus()).
import { spawn, type ChildProcess } from 'node:child_process'
import os from 'node:os'
import { FriendlyError } from '../errors.ts'
import { containerHostProblem } from '../host-requirements.ts'
import { signalsIn } from '../signals.ts'
import { CONFIG_FD, INIT_SUBCOMMAND, type InitConfig } from './protocol.ts'

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
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
  })
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', (error: NodeJS.ErrnoException) => reject(new FriendlyError(
      `could not start the container's init process: ${error.code ?? error.message}`,
      { hint: error.code === 'ENOMEM' ? 'a new PID namespace takes only ONE first process (its PID 1): spawn init once, right after the unshare' : undefined })))
  })
  currentInit = child
  const exited = new Promise<InitEnd>((resolve) => {
    child.once('exit', (code, signal) => resolve(emulatedSignal ?? signal ? { code: null, signal: emulatedSignal ?? signal } : { code, signal: null }))
  })
  if (stopRequested) onStopSignal(stopRequested)
  return {
    pid: child.pid!,
    start(config) {
      const pipe = child.stdio[CONFIG_FD] as NodeJS.WritableStream
      pipe.on('error', () => {}) // init died before reading: its exit status tells the story
      pipe.end(JSON.stringify(config))
    },
    exited,
  }
}

/** Whether a process has a handler for a signal (or is already gone). */
function initCatchesSignal(pid: number, signal: number): boolean {
  return signalsIn(pid, 'SigCgt')?.includes(signal) ?? false
}

