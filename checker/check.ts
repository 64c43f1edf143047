// What a check is, and the helpers every check file uses.
import path from 'node:path'
import type { Step } from '../lib/steps.ts'
import { findTodo } from '../learner/course.ts'
import { projectPath } from '../lib/steps.ts'
import type { RunOptions, RunResult } from './runner.ts'
import type { HostView, SharedProbe } from './probe.ts'
import type { TestNetwork } from './test-network.ts'

export interface CheckContext {
  step: Step
  /** The engine under test: steps/NN-name or solutions/NN-name. */
  engineDir: string
  /** The installed rootfs (from step 02 on), for checks that look at it from the host. */
  rootfs: string | undefined
  /** From step 08 on: the test network the engine runs in (checker/test-network.ts); undefined before. */
  network: TestNetwork | undefined
  /** Runs the engine once; every run is remembered for the report. */
  run(options: RunOptions): Promise<RunResult>
  /** The session's shared probe run (made once, judged by many checks). */
  shared(): Promise<SharedProbe>
  /** Remembers a random name this check used, so a leak carrying it can be traced back to the check. */
  mark(token: string): void
  /** A measured fact worth showing even when the check passes (--verbose, --json), e.g. "0.49 CPU". */
  note(text: string): void
}

/** A TODO's id, "03.2": the one whose concept a check proves (its help lives in learner/hints/NN-name.ts). */
export type TodoId = string

export interface Check {
  /** Short and stable, e.g. "03.oom": `--only 03.oom`. */
  id: string
  title: string
  /** Why the property matters, one or two sentences. */
  why: string
  /** The TODO whose concept this check proves; none when the property is the engine's plumbing, not a TODO. */
  hint?: TodoId
  run(ctx: CheckContext): Promise<void>
}

export class CheckFailure extends Error {
  readonly expected: string
  readonly got: string
  readonly result: RunResult | undefined
  /**
   * A better TODO than the check's own, when the evidence of the failure points at it; null when it points at no
   * TODO at all (the engine's plumbing, which `got` then explains).
   */
  readonly hint: TodoId | null | undefined
  constructor(expected: string, got: string, result?: RunResult, hint?: TodoId | null) {
    super(`expected ${expected}, got ${got}`)
    this.name = 'CheckFailure'
    this.expected = expected
    this.got = got
    this.result = result
    this.hint = hint
  }
}

/** Fails the check (naming a more precise TODO than the check's own when the evidence shows one, null for none). */
export function fail(expected: string, got: string, result?: RunResult, hint?: TodoId | null): never {
  throw new CheckFailure(expected, got, result, hint)
}

/** A short, readable description of how a run ended, for "got". */
export function howItEnded(r: RunResult): string {
  if (r.timedOut) return `the engine did not finish within its time limit and was killed (after ${(r.durationMs / 1000).toFixed(1)} s)`
  if (r.exitCode === null && r.signal) return `the engine itself was killed by ${r.signal}`
  if (r.exitCode === null) return 'the engine could not be started'
  return `exit status ${r.exitCode}`
}

/**
 * The probe must have reached its pause point and the checker must have found the container's process from the
 * host: otherwise nothing else about the run can be judged.
 */
export function requireLive(r: RunResult): asserts r is RunResult & { containerPid: number } {
  if (r.readyError) throw r.readyError
  if (!r.sawReady) fail('the command to run and print its probe lines', `${howItEnded(r)}, and the probe never ran to its end (no "@mc ready" line)`, r)
  if (r.containerPid === undefined) fail("to find the container's process on the host (a descendant of the engine running the command)", 'no such process', r)
}

/** The shared probe ran, paused, and the host saw its process. */
export function requireHost(p: SharedProbe): HostView {
  requireLive(p.run)
  if (!p.host) fail("to read the container's process from the host while it ran", 'it was gone before the checker could look', p.run)
  return p.host
}

export function requireFact(r: RunResult, key: string): string {
  const value = r.facts.get(key)
  if (value === undefined) fail(`the probe inside the container to print "@mc ${key}=..."`, `no such line (${howItEnded(r)})`, r)
  return value
}

/**
 * Where the learner finds the fix, in words and without code: "TODO(03.2) in steps/03-cgroups/cgroups.ts,
 * writeLimits(): the cgroup's limits (npm run hint 3 03.2)". A TODO of an earlier step is solved in this step's
 * starter: it names the function in the learner's copy.
 */
export function resolveHint(todoId: TodoId | undefined, engineDir: string, checking: Step): string {
  if (!todoId) return ''
  const todo = findTodo(todoId)
  if (!todo) return `TODO(${todoId}) (npm run hint)`
  const file = projectPath(path.join(engineDir, todo.file))
  const fn = todo.fn ? `, ${todo.fn}()` : ''
  const help = `npm run hint ${todo.step.number} ${todo.id}`
  if (todo.step.id === checking.id) return `TODO(${todo.id}) in ${file}${fn}: ${todo.concept} (${help})`
  return `${todo.concept}: TODO(${todo.id}) of step ${todo.step.id.slice(0, 2)}, done in ${file}${fn} (${help})`
}

export { randomInt } from './random.ts'
