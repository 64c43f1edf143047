// The shape of a step's hints file (learner/hints/NN-name.ts): the help for each TODO in three levels, and the
// step's experiments. One home per TODO: `npm run hint`, the checker's failure text and the lesson tooling read it.

export interface TodoHints {
  /** "03.2": the TODO(03.2) of the master engine (engine/all-steps). */
  id: string
  /** The concept in a few words, which a failing check names: "the cgroup's limits". */
  concept: string
  /** Level 1, a nudge: a question, or the concept to think about. */
  nudge: string
  /** Level 2, the API: which call or file, which flags, the man page; never the solution's line. */
  api: string
  // Level 3 is the code: the TODO's @solution block in engine/all-steps, read from there (lib/derive.ts).
}

/** Predict, run, explain: something to try, a question to answer first, and the answer behind `npm run hint`. */
export interface Experiment {
  /** "03.x1" */
  id: string
  title: string
  /** What to do, exactly: commands (in the VM, as root), or the edit to make. Markdown. */
  try: string
  /** The question to answer before running it. */
  predict: string
  /** What happens and why: `npm run hint N -- --experiment ID`. Markdown. */
  answer: string
}

export interface StepHints {
  /** The step's folder name, e.g. "03-cgroups". */
  step: string
  todos: TodoHints[]
  experiments: Experiment[]
}
