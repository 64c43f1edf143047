// One kind of error for everything the engine or a tool can explain to a human: a one-line
// message, a hint that says what to do, and the exit status to leave with.
import { getSystemErrorMap } from 'node:util'

/** docker's conventions, which the checker and the lessons rely on. */
export const EXIT = {
  /** The engine itself failed (bad flags, a syscall that failed, not root...). */
  ENGINE_FAILED: 125,
  /** The command exists but cannot be executed (EACCES, ENOEXEC...). */
  CANNOT_EXECUTE: 126,
  /** The command does not exist. */
  NOT_FOUND: 127,
  /** 128 + n: the command died of signal n (137 = SIGKILL, e.g. an OOM kill). */
  SIGNAL_BASE: 128,
} as const

export class FriendlyError extends Error {
  readonly hint: string | undefined
  readonly exitCode: number
  constructor(message: string, options: { hint?: string; exitCode?: number } = {}) {
    super(message)
    this.name = 'FriendlyError'
    this.hint = options.hint
    this.exitCode = options.exitCode ?? EXIT.ENGINE_FAILED
  }
}

/** A system call that failed: `mount(proc, /proc): EPERM (Operation not permitted)`. */
export class SyscallError extends FriendlyError {
  readonly call: string
  readonly errno: number
  readonly code: string
  constructor(call: string, errno: number, hint?: string) {
    const [code, description] = errnoName(errno)
    super(`${call}: ${code} (${description})`, { hint })
    this.name = 'SyscallError'
    this.call = call
    this.errno = errno
    this.code = code
  }
}

/** [name, description] of an errno number, e.g. 1 -> ['EPERM', 'operation not permitted']. */
export function errnoName(errno: number): [string, string] {
  const entry = getSystemErrorMap().get(-Math.abs(errno))
  return entry ? [entry[0], entry[1]] : [`errno ${errno}`, 'unknown error']
}

/** The one line (two with a hint) a human sees for an error. Never a stack trace for a FriendlyError. */
export function formatError(prefix: string, error: unknown): string {
  if (error instanceof FriendlyError) {
    return `${prefix}: ${error.message}` + (error.hint ? `\n${prefix}: hint: ${error.hint}` : '')
  }
  const fsError = error as NodeJS.ErrnoException
  if (fsError && typeof fsError.code === 'string' && typeof fsError.syscall === 'string') {
    // Node's own fs errors already name the call, the errno and the path.
    return `${prefix}: ${fsError.message}`
  }
  // A bug in our code (or the learner's): keep the stack, it is the only clue.
  return `${prefix}: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`
}
