// When the engine itself fails before the command runs, every check that needed the command fails too, each
// naming the TODO of its own concept: twenty hints, one cause. This finds that cause from the engine's own
// output (its first error, and where in the engine it came from: the TODO around that line), so the report can
// say it first and mark the failures that only follow from it.
import fs from 'node:fs'
import path from 'node:path'
import { parseFrame } from '../lib/errors.ts'
import { courseTodos } from '../learner/course.ts'
import type { TodoId } from './check.ts'
import { projectPath } from '../lib/steps.ts'
import type { RunResult } from './runner.ts'

export interface EngineFailure {
  /** The engine's first error, one line ("minicontainer: mount(...): ENOENT (...)"), or what happened instead. */
  message: string
  /** The lines that explain it (the engine's own hint). */
  detail: string[]
  /** Where in the engine the error came from. */
  where?: { file: string; line: number; fn: string | undefined }
  /** The TODO around that place, if it is one. */
  todo?: TodoId
  /** How the run ended, for a human: "exit status 125". */
  ended: string
}

const OOM_LINE = /^minicontainer: the kernel's OOM killer/
const ENGINE_LINE = /^minicontainer: (?!hint: |in \S+ at )/
const WHERE_LINE = /^minicontainer: in (?:(\w+)\(\)|the code) at (.+):(\d+)$/
/** Node's report of an uncaught error: "TypeError: ...", "SyntaxError: ...", "Error [ERR_X]: ...". */
const NODE_ERROR = /^(\w*Error|Error \[\w+\])\b.*:/
/** Node's first line for an error it can point at in the source: "file:///x/network.ts:17". */
const NODE_SOURCE = /^(?:file:\/\/)?(\/\S+\.[cm]?[jt]s):(\d+)$/

function ended(r: RunResult): string {
  if (r.timedOut) return `did not finish within its time limit and was killed (after ${(r.durationMs / 1000).toFixed(1)} s)`
  if (r.exitCode === null && r.signal) return `was killed by ${r.signal}`
  if (r.exitCode === null) return 'could not be started'
  return `exited with status ${r.exitCode}`
}

/**
 * Whether a run ended before its command ran, and with which error. A probe run whose script printed nothing
 * never got to the command; a plain command run counts only when the engine said so (an error of its own).
 * A command killed by a signal (status >= 128, an OOM report) did run. The engine's other commands (step 09's pull)
 * start no container: their failures are their checks' verdicts.
 */
export function engineFailure(r: RunResult, engineDir: string): EngineFailure | undefined {
  if (!r.startsContainer) return undefined // a pull that fails is what its check judges, not a container that never started
  if (r.sawReady || r.facts.size > 0 || r.stderr.split('\n').some((l) => OOM_LINE.test(l))) return undefined
  if (r.exitCode !== null && r.exitCode >= 128) return undefined // the command died of a signal: it ran
  const probe = r.commandLine.endsWith(r.token)
  const error = firstError(r.stderr, engineDir)
  if (error) return probe || r.exitCode !== 0 ? { ...error, ended: ended(r) } : undefined
  if (!probe) return undefined // a plain command may well print nothing
  return {
    message: r.timedOut ? '(no error printed: the engine hung before the command ran)' : '(no error printed, and the command never ran)',
    detail: [],
    ended: ended(r),
  }
}

/** The first error in an engine's stderr, with where it came from (and so its TODO). */
export function firstError(stderr: string, engineDir: string): Omit<EngineFailure, 'ended'> | undefined {
  const lines = stderr.split('\n').map((l) => l.trimEnd())
  let at = lines.findIndex((l) => ENGINE_LINE.test(l) && !OOM_LINE.test(l))
  const nodeAt = lines.findIndex((l) => NODE_ERROR.test(l))
  if (at < 0 || (nodeAt >= 0 && nodeAt < at && !lines.slice(0, nodeAt).some((l) => ENGINE_LINE.test(l)))) at = nodeAt
  if (at < 0) return undefined
  const message = lines[at]!
  const detail: string[] = []
  let where: EngineFailure['where']
  // The engine's own lines right after: its hint, and where (lib/errors.ts formatError).
  for (const line of lines.slice(at + 1, at + 4)) {
    const w = WHERE_LINE.exec(line)
    if (w) where ??= { fn: w[1], file: path.resolve(w[2]!), line: Number(w[3]) }
    else if (/^minicontainer: hint: /.test(line)) detail.push(line)
  }
  // Or a stack trace: its innermost frame in the engine's own files; or Node's pointer into the source.
  if (!where) {
    const inEngine = (file: string): boolean => !path.relative(engineDir, file).startsWith('..')
    const frames = lines.slice(at).map(parseFrame).filter((f): f is NonNullable<typeof f> => f !== undefined && inEngine(f.file))
    if (frames[0]) where = frames[0]
    else {
      const source = lines.slice(0, at).map((l) => NODE_SOURCE.exec(l)).find((m) => m && inEngine(m[1]!))
      if (source) where = { file: source[1]!, line: Number(source[2]), fn: undefined }
    }
  }
  return { message, detail, where, todo: where ? todoAt(engineDir, where.file, where.line, where.fn) : undefined }
}

/**
 * The TODO whose code is at `file:line` of the engine: the last TODO(NN.k) comment above the line within its
 * function (the learner's copy keeps them), else the one TODO the course has in a function of that name.
 */
export function todoAt(engineDir: string, file: string, line: number, fn: string | undefined): TodoId | undefined {
  if (path.relative(engineDir, file).startsWith('..')) return undefined
  let text: string[]
  try {
    text = fs.readFileSync(file, 'utf8').split('\n')
  } catch {
    return undefined
  }
  let start = line - 1
  let enclosing = fn
  for (; start >= 0; start--) {
    const m = /^(?:export )?(?:async )?function (\w+)/.exec(text[start] ?? '')
    if (m) {
      enclosing ??= m[1]
      break
    }
  }
  const known = new Set(courseTodos().map((t) => t.id))
  const commented = text
    .slice(Math.max(start, 0), line)
    .flatMap((l) => [...l.matchAll(/TODO\((\d\d\.\d+)\)/g)].map((m) => m[1]!))
    .filter((id) => known.has(id))
  if (commented.length) return commented.at(-1)
  const byName = courseTodos().filter((t) => t.file === path.basename(file) && t.fn === enclosing)
  return byName.length === 1 ? byName[0]!.id : undefined
}

/** "populateDev() at steps/02-chroot/rootfs.ts:29" */
export function describeWhere(where: NonNullable<EngineFailure['where']>): string {
  return `${where.fn ? `${where.fn}() at ` : ''}${projectPath(where.file)}:${where.line}`
}

/** The same failure in two runs: the same message once random names and numbers are taken out. */
export function failureKey(f: EngineFailure): string {
  // Random names (mc-x1y2..., mc-<pid>-<hex>) and numbers (limits, pids) differ from run to run.
  return [f.message.replace(/[\w.-]*\d[\w.-]*/g, 'N'), f.where ? `${f.where.file}:${f.where.line}` : ''].join('|')
}
