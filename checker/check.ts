// What a check is, and the helpers every check file uses.
import fs from 'node:fs'
import path from 'node:path'
import { PROJECT_ROOT, STEPS, type Step } from '../lib/steps.ts'
import { displayPath, type RunOptions, type RunResult } from './runner.ts'
import type { HostView, SharedProbe } from './probe.ts'
import type { World } from './world.ts'

export interface CheckContext {
  step: Step
  /** The engine under test: steps/NN-name or solutions/NN-name. */
  engineDir: string
  /** The installed rootfs (from step 02 on), for checks that look at it from the host. */
  rootfs: string | undefined
  /** From step 08 on: the test network the engine runs in (checker/world.ts); undefined before. */
  world: World | undefined
  /** Runs the engine once; every run is remembered for the report. */
  run(options: RunOptions): Promise<RunResult>
  /** The session's shared probe run (made once, judged by many checks). */
  shared(): Promise<SharedProbe>
  /** Remembers a random name this check used, so a leak carrying it can be traced back to the check. */
  mark(token: string): void
  /** A measured fact worth showing even when the check passes (--verbose, --json), e.g. "0.49 CPU". */
  note(text: string): void
}

export interface HintSpec {
  /** The step whose TODO holds the fix. */
  step: string
  /** Matches the TODO's comment (its line and the Hint lines under it). */
  todo: RegExp
  /** What to do, when the TODO cannot be found (e.g. already solved in a later step's starter). */
  text: string
}

export interface Check {
  /** Short and stable, e.g. "03.oom": `--only 03.oom`. */
  id: string
  title: string
  /** Why the property matters, one or two sentences. */
  why: string
  hint: HintSpec
  run(ctx: CheckContext): Promise<void>
}

export class CheckFailure extends Error {
  readonly expected: string
  readonly got: string
  readonly result: RunResult | undefined
  /** A better hint than the check's own, when the failure shows a more precise cause. */
  readonly hint: HintSpec | undefined
  constructor(expected: string, got: string, result?: RunResult, hint?: HintSpec) {
    super(`expected ${expected}, got ${got}`)
    this.name = 'CheckFailure'
    this.expected = expected
    this.got = got
    this.result = result
    this.hint = hint
  }
}

/** Fails the check (with a more precise hint than the check's own, if given). */
export function fail(expected: string, got: string, result?: RunResult, hint?: HintSpec): never {
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

/** Finds the TODO a hint points at: "TODO(03.2) in steps/03-cgroups/cgroups.ts (Create the cgroup)". */
export function resolveHint(hint: HintSpec, engineDir: string): string {
  const stepDir = path.join(PROJECT_ROOT, 'steps', hint.step)
  const dirs = [engineDir, stepDir]
  for (const dir of dirs) {
    let files: string[] = []
    try {
      files = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))
    } catch {
      continue
    }
    for (const file of files.sort()) {
      const lines = fs.readFileSync(path.join(dir, file), 'utf8').split('\n')
      for (let i = 0; i < lines.length; i++) {
        const m = /TODO\((\d\d\.\d+)\):?\s*(.*)$/.exec(lines[i]!)
        if (!m || !m[1]!.startsWith(hint.step.slice(0, 2))) continue
        let block = lines[i]!
        for (let j = i + 1; j < lines.length && /^\s*\/\/ (?!TODO\(|@)/.test(lines[j]!); j++) block += '\n' + lines[j]
        if (hint.todo.test(block)) {
          const where = displayPath(path.join(dir, file))
          if (dir === engineDir) return `TODO(${m[1]}) in ${where}: ${hint.text}`
          // Solved in this engine already (an earlier step's TODO): point at the lesson's TODO and at the learner's copy.
          const mine = path.join(engineDir, file)
          return `${hint.text} (TODO(${m[1]}) of step ${hint.step}, ${where}${fs.existsSync(mine) ? `; your code: ${displayPath(mine)}` : ''})`
        }
      }
    }
  }
  const step = STEPS.find((s) => s.id === hint.step)
  return `${hint.text} (lesson: steps/${hint.step}/README.md${step ? `, "${step.title}"` : ''})`
}

/** A random integer in [min, max]. */
export function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1))
}
