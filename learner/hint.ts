// `npm run hint [STEP] [TODO] [-- --level N | --experiment ID]`: help in three levels, only when asked.
//   level 1  a nudge: a question, the concept to think about
//   level 2  the API: which call or file, which flags, the man page
//   level 3  the code (the solution's, from the master engine)
// Without a TODO it helps with the one the learner is on: the TODO behind the first failing check of their last
// `npm run check` (recorded in the progress file), and each call gives the next level. `--experiment ID` shows the
// answer of one of the step's experiments (predict first: the lesson asks the question).
import kleur from 'kleur'
import { parseCommandLine } from '../lib/args.ts'
import { STEPS, findStep, stepDir, type Step, projectPath } from '../lib/steps.ts'
import { experimentsOf, findTodo, todosOf, type CourseTodo } from './course.ts'
import { readProgress, recordHintLevel, type Progress } from './progress.ts'
import { UsageError, findTodos, runCommand } from './shared.ts'
import { DEFAULT_WIDTH, renderMarkdown } from './terminal.ts'

export const LEVELS = ['a nudge', 'the API', 'the code'] as const

export interface HintRequest {
  step?: Step
  todo?: string
  level?: number
  experiment?: string
}

export interface HintAnswer {
  step: Step
  todo: CourseTodo | undefined
  level: number | undefined
  /** What to print (Markdown-ish, rendered for the terminal by the caller). */
  text: string
}

const two = (step: Step) => String(step.number).padStart(2, '0')

/**
 * The step to help with: the one named, the one of the TODO named, the one the learner checked last when it does
 * not pass yet (a learner who skipped ahead is helped where they are), else the first one not passed yet.
 */
function chooseStep(request: HintRequest, progress: Progress): Step {
  if (request.step) return request.step
  if (request.todo) return findTodo(request.todo)!.step
  const lastChecked = STEPS.filter((s) => progress.steps[s.id]?.checkedAt)
    .sort((a, b) => progress.steps[b.id]!.checkedAt!.localeCompare(progress.steps[a.id]!.checkedAt!))[0]
  if (lastChecked && !progress.steps[lastChecked.id]!.passed) return lastChecked
  return STEPS.find((s) => !progress.steps[s.id]?.passed) ?? STEPS.at(-1)!
}

/** Works out the answer to a hint request; records nothing (the command does). */
export function answerHint(request: HintRequest, progress: Progress = readProgress(), learnerDir?: (step: Step) => string): HintAnswer {
  const step = chooseStep(request, progress)
  if (request.experiment) return experimentAnswer(step, request.experiment)
  const record = progress.steps[step.id]
  const own = todosOf(step)
  let todo: CourseTodo | undefined
  let why: string
  if (request.todo) {
    todo = findTodo(request.todo)
    why = ''
  } else if (record && !record.passed && record.todo) {
    todo = findTodo(record.todo)
    why = `Your last \`npm run check ${step.number}\` failed first at ${record.failed[0] ?? 'a check'}: it is about TODO(${record.todo}).`
  } else if (record?.passed) {
    return { step, todo: undefined, level: undefined, text: passedText(step) }
  } else {
    todo = own[0]
    why = `No check of step ${two(step)} recorded yet: this is its first TODO. Run \`npm run check ${step.number}\` and the hints follow what fails.`
  }
  if (!todo) throw new UsageError(`step ${step.id} has no TODO ${request.todo ?? ''}`.trim())
  const seen = progress.steps[todo.step.id]?.hintLevels?.[todo.id] ?? 0
  const level = request.level ?? Math.min(seen + 1, 3)
  return { step, todo, level, text: todoText(todo, level, why, learnerDir?.(todo.step) ?? stepDir(step, 'steps')) }
}

function where(todo: CourseTodo, dir: string): string {
  const fn = todo.fn ? `, in ${todo.fn}()` : ''
  const comment = findTodos(dir).find((t) => t.id === todo.id)
  return comment ? `${projectPath(comment.file)}:${comment.line}${fn}` : `${projectPath(dir)}/${todo.file}${fn}`
}

function todoText(todo: CourseTodo, level: number, why: string, dir: string): string {
  const lines = [`# TODO(${todo.id}): ${todo.concept}`, '', `${where(todo, dir)} · hint level ${level} of 3 (${LEVELS[level - 1]})`, '']
  if (why) lines.push(why, '')
  if (level >= 1) lines.push('## Level 1: a nudge', '', todo.nudge, '')
  if (level >= 2) lines.push('## Level 2: the API', '', todo.api, '')
  if (level >= 3) {
    const code = todo.code.split('\n')
    const indent = Math.min(...code.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length))
    lines.push('## Level 3: the code', '', `What the solution has in ${todo.fn ? `${todo.fn}()` : todo.file}:`, '', '```ts', ...code.map((l) => l.slice(indent)), '```', '')
    lines.push('Type it yourself rather than paste it, then `npm run check ' + todo.step.number + '`.', '')
  } else {
    lines.push(`Still stuck? The same \`npm run hint\` again gives level ${level + 1} (${LEVELS[level]}).`, '')
  }
  return lines.join('\n')
}

function passedText(step: Step): string {
  const experiments = experimentsOf(step)
  const lines = [`# Step ${two(step)} passes`, '', 'No hint needed. Time for the experiments: predict, run, explain.', '']
  for (const e of experiments) lines.push(`- ${e.id}: ${e.title} (\`npm run hint ${step.number} -- --experiment ${e.id}\` for the answer)`)
  const next = STEPS.find((s) => s.number === step.number + 1)
  if (next) lines.push('', `Then the next step: \`npm run lesson ${next.number}\`.`)
  return lines.join('\n') + '\n'
}

function experimentAnswer(step: Step, id: string): HintAnswer {
  const all = experimentsOf(step)
  const e = all.find((x) => x.id === id || x.id === `${two(step)}.${id}`)
  if (!e) throw new UsageError(`step ${step.id} has no experiment ${JSON.stringify(id)} (it has ${all.map((x) => x.id).join(', ') || 'none'})`)
  const text = [`# Experiment ${e.id}: ${e.title}`, '', '## Try', '', e.try, '', '## Predict', '', e.predict, '', '## What happens, and why', '', e.answer, ''].join('\n')
  return { step, todo: undefined, level: undefined, text }
}

const HINT_USAGE = 'usage: npm run hint [STEP] [TODO] [-- --level N | --experiment ID]'

/** What `npm run hint -- --help` prints. */
export const HINT_HELP = `${HINT_USAGE}

  STEP              a step: 3, 03, step-03 or cgroups (default: the step you are on)
  TODO              a TODO, such as 03.2 (default: the one your last failing check named, else the step's first)
  --level N         1 a nudge, 2 the API (calls, files, flags), 3 the code (default: one more than you last saw;
                    npm run status shows the levels used)
  --experiment ID   the answer to one of the lesson's experiments, such as 03.x1
  --no-pager        print without the pager
  -h, --help        this text
`

/** "3", "03", "step-03", "cgroups" name a step; "03.2" names a TODO. */
export function parseHintArgs(args: string[]): HintRequest & { pager: boolean; help?: boolean } {
  const parsed = parseCommandLine(args, {
    level: { type: 'string' }, experiment: { type: 'string' }, 'no-pager': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  }, { positionals: true, usage: HINT_USAGE })
  const request: HintRequest & { pager: boolean; help?: boolean } = { pager: !parsed.values['no-pager'] }
  if (parsed.values.help) return { ...request, help: true }
  for (const word of parsed.positionals) {
    if (/^\d{2}\.\d+$/.test(word)) {
      if (!findTodo(word)) throw new UsageError(`no TODO(${word}) in the workshop`)
      request.todo = word
    } else {
      const step = findStep(word)
      if (!step) throw new UsageError(`no step ${JSON.stringify(word)}: try one of ${STEPS.map((s) => s.number).join(', ')}, or a TODO such as 03.2`)
      request.step = step
    }
  }
  if (request.step && request.todo && findTodo(request.todo)!.step.id !== request.step.id) {
    // A later step's starter has the earlier steps solved: asking step 4 for TODO 03.2 is fine.
    if (findTodo(request.todo)!.step.number > request.step.number) throw new UsageError(`TODO(${request.todo}) belongs to a later step than ${request.step.id}`)
  }
  if (parsed.values.level !== undefined) {
    const level = Number(parsed.values.level)
    if (![1, 2, 3].includes(level)) throw new UsageError(`--level ${parsed.values.level}: the levels are 1 (a nudge), 2 (the API), 3 (the code)`)
    request.level = level
  }
  request.experiment = parsed.values.experiment
  return request
}

async function main(args: string[]): Promise<number> {
  const request = parseHintArgs(args)
  if (request.help) {
    process.stdout.write(HINT_HELP)
    return 0
  }
  const answer = answerHint(request)
  if (answer.todo && answer.level) recordHintLevel(answer.todo.step.id, answer.todo.id, answer.level)
  const width = Math.min(process.stdout.columns || DEFAULT_WIDTH, DEFAULT_WIDTH)
  const { page } = await import('./lesson.ts')
  page(renderMarkdown(answer.text, width), request.pager)
  if (answer.level === 3) process.stderr.write(kleur.dim('(hint level 3 recorded: `npm run status` shows the levels used)\n'))
  return 0
}

if (import.meta.main) await runCommand('hint', main)
