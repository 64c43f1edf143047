// `npm run hint 3`: the next unfinished TODO of a step (the first `TODO(NN.k)` comment still in
// steps/NN-name/), where it is, what it says, and the lesson's section that explains it.
// Without a step: the first step that still has a TODO.
import { STEPS, stepDir, type Step } from '../lib/steps.ts'
import kleur from 'kleur'
import { findTodos, readLesson, rejectUnknownFlags, relative, runCommand, sectionOf, splitArgs, stepFromArg, type Todo } from './shared.ts'
import { DEFAULT_WIDTH, renderMarkdown } from './terminal.ts'

export interface HintResult {
  step: Step
  todo: Todo | undefined
  /** What to print. */
  text: string
}

export function nextHint(step: Step, dir = stepDir(step, 'steps'), width = DEFAULT_WIDTH): HintResult {
  const own = findTodos(dir).filter((t) => t.id.startsWith(String(step.number).padStart(2, '0') + '.'))
  const todo = own[0]
  if (!todo) {
    return {
      step, todo,
      text: `${kleur.green('✓')} step ${step.id}: all done, no TODO left in ${relative(dir)}/.\n` +
        `  Check it: npm run check step-${String(step.number).padStart(2, '0')}\n`,
    }
  }
  const lines = [
    kleur.bold(`Next: TODO(${todo.id})`) + kleur.gray(`  (${own.length} left in step ${step.id})`),
    kleur.gray(`${relative(todo.file)}:${todo.line}`),
    '',
    ...todo.text.split('\n').map((l) => '  ' + kleur.yellow(l)),
    '',
  ]
  if (todo.lesson) {
    let section: string | undefined
    try {
      section = sectionOf(readLesson(step), todo.lesson)
    } catch {
      section = undefined
    }
    if (section) {
      lines.push(kleur.gray(`From the lesson (npm run lesson ${step.number}):`), '', renderMarkdown(section, width).trimEnd())
    } else {
      lines.push(kleur.gray(`The lesson's section "${todo.lesson}" is not in steps/${step.id}/README.md.`))
    }
  }
  return { step, todo, text: lines.join('\n') + '\n' }
}

async function main(args: string[]): Promise<number> {
  const { flags, rest } = splitArgs(args)
  rejectUnknownFlags(flags, ['--no-pager'], 'hint')
  let step: Step
  if (rest.length) step = stepFromArg(rest[0], 'hint')
  else {
    const withTodo = STEPS.find((s) => findTodos(stepDir(s, 'steps')).some((t) => t.id.startsWith(String(s.number).padStart(2, '0') + '.')))
    if (!withTodo) {
      process.stdout.write(`${kleur.green('✓')} no TODO left in any step. Check them all: npm run check\n`)
      return 0
    }
    step = withTodo
  }
  const width = Math.min(process.stdout.columns || DEFAULT_WIDTH, DEFAULT_WIDTH)
  const { page } = await import('./lesson.ts')
  page(nextHint(step, undefined, width).text, !flags.has('--no-pager'))
  return 0
}

if (import.meta.main) await runCommand('hint', main)
