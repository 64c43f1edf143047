// `npm run solution step-03`: the difference between your files in steps/NN-name/ and the
// solution in solutions/NN-name/ ("-" lines are yours, "+" lines the solution's).
// It spoils the exercise, so it asks first, unless the checker has recorded that the step
// passes (.minicontainer/progress.json) or `--yes` is given (for scripts).
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline/promises'
import { stepDir, type Step, projectPath } from '../lib/steps.ts'
import { unifiedDiff } from './diff.ts'
import { stepPassed } from './progress.ts'
import { parseCommandLine } from '../lib/args.ts'
import { FriendlyError } from '../lib/errors.ts'
import { runCommand, stepFromArg } from './shared.ts'

/** The diff of every engine file of a step, yours -> the solution's; '' when they are the same. */
export function solutionDiff(step: Step, options: { dir?: string; solutionDir?: string; color?: boolean } = {}): string {
  const mine = options.dir ?? stepDir(step, 'steps')
  const theirs = options.solutionDir ?? stepDir(step, 'solutions')
  const list = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.ts')) : [])
  const names = [...new Set([...list(mine), ...list(theirs)])].sort()
  const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined)
  return names.map((name) => {
    const a = path.join(mine, name)
    const b = path.join(theirs, name)
    return unifiedDiff(read(a), read(b), projectPath(a), projectPath(b), 3, options.color ?? false)
  }).join('')
}

async function confirm(step: Step): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout })
  try {
    const answer = await rl.question(`Show the solution of step ${step.id}? It gives the exercise away. [y/N] `)
    return /^y(es)?$/i.test(answer.trim())
  } finally {
    rl.close()
  }
}

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, { yes: { type: 'boolean', short: 'y' } }, { positionals: true, usage: 'usage: npm run solution STEP [-- --yes]' })
  const step = stepFromArg(positionals[0], 'solution')
  const allowed = values.yes || stepPassed(step)
  if (!allowed) {
    if (!process.stdin.isTTY) {
      throw new FriendlyError(`step ${step.id} has not passed \`npm run check step-${String(step.number).padStart(2, '0')}\` yet: add --yes to see its solution anyway`, { exitCode: 1 })
    }
    if (!(await confirm(step))) {
      console.log(`Not shown. Stuck? \`npm run hint ${step.number}\` shows the next TODO and its lesson section.`)
      return 1
    }
  }
  const diff = solutionDiff(step, { color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR })
  if (!diff) {
    console.log(`steps/${step.id} is identical to solutions/${step.id}.`)
    return 0
  }
  console.log(`"-" lines: your steps/${step.id}; "+" lines: solutions/${step.id}.\n`)
  const { page } = await import('./lesson.ts')
  page(diff, true)
  return 0
}

if (import.meta.main) await runCommand('solution', main)
