// `npm run reset step-03`: puts the starter of a step back into steps/NN-name/, after copying
// the learner's files to .minicontainer/backups/NN-name-<time>/ (nothing is ever lost).
import fs from 'node:fs'
import path from 'node:path'
import { PROJECT_ROOT, stepDir, type Step, projectPath } from '../lib/steps.ts'
import { deriveStep, writeStep } from '../lib/derive.ts'
import { parseCommandLine } from '../lib/args.ts'
import { runCommand, stepFromArg } from './shared.ts'

export const BACKUP_ROOT = path.join(PROJECT_ROOT, '.minicontainer', 'backups')

export interface ResetResult {
  /** undefined when the folder already was the starter: nothing to back up. */
  backup: string | undefined
  /** Files that differed from the starter (or were not part of it), by name. */
  changed: string[]
  written: string[]
}

/** "2026-11-29T10-31-05" (sortable, and legal in a file name everywhere). */
function stamp(now: Date): string {
  return now.toISOString().replace(/\.\d+Z$/, '').replace(/:/g, '-')
}

/**
 * Backs up then restores one step's starter. `dir` is the learner's folder (tests pass a copy).
 * Only the engine's .ts files are touched; README.md (the lesson) and other files stay.
 */
export function resetStep(step: Step, options: { dir?: string; backupRoot?: string; now?: Date } = {}): ResetResult {
  const dir = options.dir ?? stepDir(step, 'steps')
  const starter = deriveStep(step, 'steps')
  const present = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.ts')) : []
  const changed = [...new Set([...present, ...starter.keys()])].sort().filter((name) => {
    const file = path.join(dir, name)
    const actual = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined
    return actual !== starter.get(name)
  })
  let backup: string | undefined
  if (changed.some((name) => fs.existsSync(path.join(dir, name)))) {
    const first = path.join(options.backupRoot ?? BACKUP_ROOT, `${step.id}-${stamp(options.now ?? new Date())}`)
    let base = first
    for (let n = 2; fs.existsSync(base); n++) base = `${first}-${n}`
    fs.mkdirSync(base, { recursive: true })
    for (const name of present) fs.copyFileSync(path.join(dir, name), path.join(base, name))
    backup = base
  }
  // A file the learner added is not part of the starter: it is in the backup, and goes.
  for (const name of present) if (!starter.has(name)) fs.rmSync(path.join(dir, name))
  const written = changed.length ? writeStep(step, 'steps', dir) : []
  return { backup, changed, written }
}

async function main(args: string[]): Promise<number> {
  const { positionals } = parseCommandLine(args, {}, { positionals: true, usage: 'usage: npm run reset STEP' })
  const step = stepFromArg(positionals[0], 'reset')
  const result = resetStep(step)
  if (!result.changed.length) {
    console.log(`reset: steps/${step.id} already is the starter; nothing to do.`)
    return 0
  }
  if (result.backup) console.log(`reset: your files are saved in ${projectPath(result.backup)}/`)
  console.log(`reset: restored the starter of step ${step.id} (${result.changed.join(', ')})`)
  console.log(`       next: npm run hint ${step.number}`)
  return 0
}

if (import.meta.main) await runCommand('reset', main)
