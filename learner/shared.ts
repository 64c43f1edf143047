// What the learner's commands (lesson, hint, reset, solution, lessons:html) share: reading the
// step from the command line, the TODO comments of a step folder, the lessons' sections, and
// the checker's progress file.
import fs from 'node:fs'
import path from 'node:path'
import { compareTodoIds } from '../lib/derive.ts'
import { UsageError } from '../lib/args.ts'
import { FriendlyError } from '../lib/errors.ts'
import { PROJECT_ROOT, STEPS, findStep, stepDir, type Step } from '../lib/steps.ts'

export { UsageError }

const STEP_LIST = STEPS.map((s) => `${s.number} (${s.id})`).join(', ')

/** The step named on the command line: "3", "03", "step-03", "03-cgroups", "cgroups". */
export function stepFromArg(arg: string | undefined, command: string): Step {
  if (arg === undefined) throw new UsageError(`which step? e.g. \`npm run ${command} 3\` (steps: ${STEP_LIST})`)
  const step = findStep(arg)
  if (!step) throw new UsageError(`no step ${JSON.stringify(arg)}: try one of ${STEP_LIST}`)
  return step
}

/**
 * Runs a command's main function: a UsageError (or any error with a message, for bad input
 * we did not foresee) becomes one line on stderr and a non-zero exit status.
 */
export async function runCommand(name: string, main: (args: string[]) => Promise<number | void> | number | void): Promise<void> {
  try {
    const status = await main(process.argv.slice(2))
    process.exitCode = status ?? 0
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    process.stderr.write(`${name}: ${message}\n`)
    // MINICONTAINER_DEBUG=1: the stack of an error that is not the person's (a bug of ours).
    if (!(error instanceof FriendlyError) && process.env.MINICONTAINER_DEBUG) process.stderr.write(`${(error as Error).stack}\n`)
    process.exitCode = error instanceof FriendlyError ? error.exitCode : 1
  }
}

// ---- Lessons -----------------------------------------------------------------------------------

export function lessonFile(step: Step): string {
  return path.join(stepDir(step, 'steps'), 'README.md')
}

export function readLesson(step: Step): string {
  const file = lessonFile(step)
  if (!fs.existsSync(file)) throw new FriendlyError(`the lesson of step ${step.id} is missing: ${path.relative(PROJECT_ROOT, file)}`, { exitCode: 1 })
  return fs.readFileSync(file, 'utf8')
}

/** The text of a heading as written (without #s, trailing #s and spaces). */
export function headingsOf(markdown: string): { depth: number; text: string; line: number }[] {
  const out: { depth: number; text: string; line: number }[] = []
  let fence: string | undefined
  markdown.split('\n').forEach((line, i) => {
    const f = /^\s*(```|~~~)/.exec(line)
    if (f) {
      if (fence === undefined) fence = f[1]
      else if (fence === f[1]) fence = undefined
      return
    }
    if (fence !== undefined) return
    const m = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line)
    if (m) out.push({ depth: m[1]!.length, text: m[2]!, line: i })
  })
  return out
}

/** One section of a lesson (its heading and everything up to the next heading of the same or a higher level). */
export function sectionOf(markdown: string, heading: string): string | undefined {
  const headings = headingsOf(markdown)
  const index = headings.findIndex((h) => h.text === heading)
  if (index === -1) return undefined
  const start = headings[index]!
  const next = headings.slice(index + 1).find((h) => h.depth <= start.depth)
  const lines = markdown.split('\n')
  return lines.slice(start.line, next ? next.line : lines.length).join('\n').trimEnd() + '\n'
}

// ---- TODOs ---------------------------------------------------------------------------------------

export interface Todo {
  /** "03.2" */
  id: string
  file: string
  /** 1-based */
  line: number
  /** The comment, without the `//`s: its first line and the ones that continue it. */
  text: string
  /** The lesson section it names: `Lesson: "3. Limits"`. */
  lesson: string | undefined
}

const TODO_LINE = /^\s*\/\/\s*TODO\((\d{2}\.\d+)\):\s?(.*)$/

/** Every `// TODO(NN.k): ...` comment in a folder's .ts files, sorted by id (01.2 before 01.10). */
export function findTodos(dir: string): Todo[] {
  if (!fs.existsSync(dir)) return []
  const todos: Todo[] = []
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.ts')).sort()) {
    const file = path.join(dir, name)
    const lines = fs.readFileSync(file, 'utf8').split('\n')
    lines.forEach((line, i) => {
      const m = TODO_LINE.exec(line)
      if (!m) return
      const text = [m[2]!]
      for (let j = i + 1; j < lines.length; j++) {
        const next = lines[j]!
        if (!/^\s*\/\//.test(next) || TODO_LINE.test(next) || /^\s*\/\/\s*@/.test(next)) break
        text.push(next.replace(/^\s*\/\/ ?/, ''))
      }
      const joined = text.join('\n')
      const lesson = /Lesson:\s*"([^"]+)"/i.exec(joined.replace(/\n\s*/g, ' '))?.[1]
      todos.push({ id: m[1]!, file, line: i + 1, text: joined, lesson })
    })
  }
  return todos.sort((a, b) => compareTodoIds(a.id, b.id))
}
