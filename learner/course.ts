// What the workshop knows about each TODO: where it is (file, function), what it is about (its concept), its help
// in three levels (levels 1-2 from learner/hints/NN-name.ts, level 3 the solution's code from the master engine),
// and each step's experiments. `npm run hint`, the checker's failure text and the lesson tooling all read it here.
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { compareTodoIds, todoRegions, type TodoRegion } from '../lib/derive.ts'
import { STEPS, type Step } from '../lib/steps.ts'
import type { Experiment, StepHints, TodoHints } from './hints/types.ts'

export interface CourseTodo extends TodoHints {
  step: Step
  /** The master file's name ("cgroups.ts"): the same in steps/NN and solutions/NN. */
  file: string
  fn: string | undefined
  /** Level 3: the solution's code, as in the file (indented). */
  code: string
}

const hintFiles: StepHints[] = await Promise.all(
  STEPS.map(async (step) => {
    const file = path.join(import.meta.dirname, 'hints', `${step.id}.ts`)
    // A step without a hints file yet has empty levels (a test forbids that); a hints file that does not load (a
    // syntax error) is an error here, not a silent fall-back to bare TODO ids.
    if (!fs.existsSync(file)) return { step: step.id, todos: [], experiments: [] }
    const loaded = (await import(pathToFileURL(file).href)) as { hints?: StepHints }
    return loaded.hints ?? { step: step.id, todos: [], experiments: [] }
  }),
)

let todoList: CourseTodo[] | undefined

/** Every TODO of every step, in course order; a TODO without hints has empty levels 1-2 (a test forbids that). */
export function courseTodos(): CourseTodo[] {
  todoList ??= todoRegions()
    .map((region: TodoRegion) => {
      const hints = hintFiles.find((h) => h.step === region.step.id)?.todos.find((t) => t.id === region.id)
      return {
        id: region.id,
        concept: hints?.concept ?? `TODO(${region.id})`,
        nudge: hints?.nudge ?? '',
        api: hints?.api ?? '',
        step: region.step,
        file: region.file,
        fn: region.fn,
        code: region.solution.join('\n'),
      }
    })
    .sort((a, b) => compareTodoIds(a.id, b.id))
  return todoList
}

export function findTodo(id: string): CourseTodo | undefined {
  return courseTodos().find((t) => t.id === id)
}

/** The TODOs of one step, in order. */
export function todosOf(step: Step): CourseTodo[] {
  return courseTodos().filter((t) => t.step.id === step.id)
}

export function experimentsOf(step: Step): Experiment[] {
  return hintFiles.find((h) => h.step === step.id)?.experiments ?? []
}

/** The hints files as written (for the tests that hold them to the master). */
export function hintFilesAsWritten(): readonly StepHints[] {
  return hintFiles
}
