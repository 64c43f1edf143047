// One kind of error for everything the engine or a tool can explain to a human: a one-line
// message, a hint that says what to do, and the exit status to leave with.
import path from 'node:path'
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
  /** The kernel refused what the caller asked: the message says where the caller asked it (callerFrame). */
  readonly locate: boolean
  constructor(message: string, options: { hint?: string; exitCode?: number; locate?: boolean } = {}) {
    super(message)
    this.name = 'FriendlyError'
    this.hint = options.hint
    this.exitCode = options.exitCode ?? EXIT.ENGINE_FAILED
    this.locate = options.locate ?? false
  }
}

/** A system call that failed: `mount(proc, /proc): EPERM (Operation not permitted)`. */
export class SyscallError extends FriendlyError {
  readonly call: string
  readonly errno: number
  readonly code: string
  constructor(call: string, errno: number, hint?: string) {
    const [code, description] = errnoName(errno)
    super(`${call}: ${code} (${description})`, { hint, locate: true })
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

/**
 * The one line (two with a hint) a human sees for an error. Never a stack trace for a FriendlyError. When the kernel
 * refused a call (a SyscallError, a cgroup file, Node's own fs errors), one more line says which function of the
 * engine made it: `minicontainer: in populateDev() at steps/02-chroot/rootfs.ts:41` (the checker reads it too).
 */
export function formatError(prefix: string, error: unknown): string {
  const where = (e: Error): string => {
    const frame = callerFrame(e)
    return frame ? `\n${prefix}: in ${frame.fn ? `${frame.fn}()` : 'the code'} at ${frame.shown}:${frame.line}` : ''
  }
  if (error instanceof FriendlyError) {
    return `${prefix}: ${error.message}` + (error.locate ? where(error) : '') + (error.hint ? `\n${prefix}: hint: ${error.hint}` : '')
  }
  const fsError = error as NodeJS.ErrnoException
  if (fsError && typeof fsError.code === 'string' && typeof fsError.syscall === 'string') {
    // Node's own fs errors already name the call, the errno and the path.
    return `${prefix}: ${fsError.message}${where(fsError)}`
  }
  // A bug in our code (or the learner's): keep the stack, it is the only clue.
  return `${prefix}: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`
}

/** lib/ itself (the plumbing): its frames are never "where" for the learner. */
const LIB_DIR = import.meta.dirname

export interface Frame {
  fn: string | undefined
  /** Absolute path of the file. */
  file: string
  line: number
  /** The path as a human at this terminal reads it: relative to the working directory when inside it. */
  shown: string
}

/** One line of a V8 stack trace: `    at populateDev (file:///x/rootfs.ts:41:3)` or `    at file:///x/main.ts:9:1`. */
export function parseFrame(line: string): Omit<Frame, 'shown'> | undefined {
  const m = /^\s*at (?:(?:async )?([^\s(]+) \()?(?:file:\/\/)?(\/[^():]+):(\d+):\d+\)?$/.exec(line)
  if (!m) return undefined
  const fn = m[1]?.split('.').at(-1)
  return { fn: fn && fn !== '<anonymous>' ? fn : undefined, file: decodeURIComponent(m[2]!), line: Number(m[3]) }
}

/** The innermost frame of an error's stack outside lib/ and Node itself: the caller's code that made the call. */
export function callerFrame(error: Error): Frame | undefined {
  for (const line of (error.stack ?? '').split('\n').slice(1)) {
    const frame = parseFrame(line)
    if (!frame || frame.file.startsWith(LIB_DIR + '/') || frame.file.includes('/node_modules/')) continue
    const cwd = process.cwd()
    const rel = path.relative(cwd, frame.file)
    return { ...frame, shown: cwd !== '/' && rel && !rel.startsWith('..') ? rel : frame.file }
  }
  return undefined
}
