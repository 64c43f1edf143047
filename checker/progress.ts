// The learner's progress: which steps passed, kept in .minicontainer/progress.json (gitignored).
import fs from 'node:fs'
import path from 'node:path'
import { PROJECT_ROOT } from '../lib/steps.ts'

export interface StepProgress {
  /** The last check passed. */
  passed: boolean
  /** Some check of this step passed once (a later edit may have broken it since). */
  everPassed: boolean
  /** ISO time of the first passing check (kept when a later edit breaks the step). */
  passedAt?: string
  /** ISO time of the last check. */
  checkedAt: string
  /** Ids of the checks that failed last time. */
  failed: string[]
}

export interface Progress {
  steps: Record<string, StepProgress>
}

export function progressFile(): string {
  return process.env.MINICONTAINER_PROGRESS ?? path.join(PROJECT_ROOT, '.minicontainer', 'progress.json')
}

export function readProgress(): Progress {
  try {
    const data = JSON.parse(fs.readFileSync(progressFile(), 'utf8')) as Progress
    if (data && typeof data.steps === 'object') return data
  } catch {
    // none yet, or unreadable: start over
  }
  return { steps: {} }
}

export function recordProgress(stepId: string, passed: boolean, failed: string[]): void {
  const progress = readProgress()
  const previous = progress.steps[stepId]
  const now = new Date().toISOString()
  const passedAt = previous?.passedAt ?? (passed ? now : undefined)
  progress.steps[stepId] = { passed, everPassed: passed || (previous?.everPassed ?? false), ...(passedAt ? { passedAt } : {}), checkedAt: now, failed }
  const file = progressFile()
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, JSON.stringify(progress, null, 2) + '\n')
  fs.renameSync(tmp, file)
}
