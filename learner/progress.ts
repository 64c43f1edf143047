// The learner's progress, kept in .minicontainer/progress.json (gitignored; MINICONTAINER_PROGRESS elsewhere):
// written by the checker (which steps pass, the TODO behind the first failing check) and by `npm run hint` (the
// hint levels used), read by `status`, `hint`, `solution` and the checker when no step is given.
import fs from 'node:fs'
import path from 'node:path'
import { PROJECT_ROOT, type Step } from '../lib/steps.ts'

export interface StepProgress {
  /** The last check passed. */
  passed: boolean
  /** Some check of this step passed once (a later edit may have broken it since). */
  everPassed: boolean
  /** ISO time of the first passing check (kept when a later edit breaks the step). */
  passedAt?: string
  /** ISO time of the last check. */
  checkedAt?: string
  /** Ids of the checks that failed last time. */
  failed: string[]
  /** The TODO behind the first failing check of the last check: the one the learner is on. */
  todo?: string
  /** The highest hint level shown for each TODO: { "03.2": 2 }. */
  hintLevels?: Record<string, number>
}

export interface Progress {
  steps: Record<string, StepProgress>
}

export function progressFile(): string {
  return process.env.MINICONTAINER_PROGRESS ?? path.join(PROJECT_ROOT, '.minicontainer', 'progress.json')
}

export function readProgress(file = progressFile()): Progress {
  try {
    const data = JSON.parse(fs.readFileSync(file, 'utf8')) as Progress
    if (data && typeof data.steps === 'object' && data.steps !== null) return data
  } catch {
    // none yet, or unreadable: start over
  }
  return { steps: {} }
}

function update(stepId: string, change: (previous: StepProgress | undefined) => StepProgress, file = progressFile()): void {
  const progress = readProgress(file)
  progress.steps[stepId] = change(progress.steps[stepId])
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, JSON.stringify(progress, null, 2) + '\n')
  fs.renameSync(tmp, file)
}

/** The checker's verdict on the learner's step: passed or not, what failed, and the TODO of the first failure. */
export function recordCheck(stepId: string, result: { passed: boolean; failed: string[]; todo: string | undefined }): void {
  update(stepId, (previous) => {
    const now = new Date().toISOString()
    const passedAt = previous?.passedAt ?? (result.passed ? now : undefined)
    return {
      ...previous,
      passed: result.passed,
      everPassed: result.passed || (previous?.everPassed ?? false),
      ...(passedAt ? { passedAt } : {}),
      checkedAt: now,
      failed: result.failed,
      todo: result.passed ? undefined : result.todo,
    }
  })
}

/** `npm run hint` showed `level` of TODO `todoId`. */
export function recordHintLevel(stepId: string, todoId: string, level: number): void {
  update(stepId, (previous) => {
    const levels = { ...previous?.hintLevels }
    levels[todoId] = Math.max(levels[todoId] ?? 0, level)
    return { passed: false, everPassed: false, failed: [], ...previous, hintLevels: levels }
  })
}

/**
 * Whether `npm run check` has seen this step pass (now, or once: a later edit may have broken it since, but the
 * learner has earned the solution). A missing or unreadable file: no.
 */
export function stepPassed(step: Step, file = progressFile()): boolean {
  const entry = readProgress(file).steps[step.id]
  return entry?.passed === true || entry?.everPassed === true
}
