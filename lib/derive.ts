// The one engine with step markers in engine/all-steps/ (the markers are explained in CONTRIBUTING.md), and what
// is made from it: every step's starter (steps/NN/*.ts) and solution (solutions/NN/*.ts), and the TODO regions
// (where each TODO is, its solution code) that hints and the checker read. `npm run derive` is scripts/derive.ts.
import fs from 'node:fs'
import path from 'node:path'
import { PROJECT_ROOT, STEPS, type Step } from './steps.ts'

export const MASTER_DIR = path.join(PROJECT_ROOT, 'engine', 'all-steps')
export type Kind = 'steps' | 'solutions'

const MARKER = /^\s*\/\/ @(file-since|since|until|todo|imports|starter|solution|end)\b\s*(\S*)(?:\s+until\s+(\S+))?/

function stepIndex(id: string, where: string): number {
  const index = STEPS.findIndex((s) => s.id === id)
  if (index === -1) throw new Error(`${where}: unknown step "${id}" (steps: ${STEPS.map((s) => s.id).join(', ')})`)
  return index
}

/**
 * One master file as it is in `step`'s starter (kind "steps") or solution. Returns undefined
 * when the file does not exist yet at that step.
 */
export function deriveFile(source: string, fileName: string, step: Step, kind: Kind): string | undefined {
  const target = stepIndex(step.id, 'target')
  const out: string[] = []
  // Which part of which region we are in: outside, a @since region, or the parts of a @todo or @imports region
  // (an @imports region is a @todo without a TODO: the names the step's solution imports, which its starter must
  // not give away). A region with an end (`@until STEP`, `@since A until B`, `@todo A until B`) holds code that a
  // later step replaces.
  let region: { kind: 'since' | 'todo' | 'imports'; step: number; until: number | undefined; part: 'todo' | 'starter' | 'solution' | 'since' } | undefined
  const lines = source.split('\n')
  const fileSince = /^\/\/ @file-since (\S+)/.exec(lines[0] ?? '')?.[1]
  if (fileSince && stepIndex(fileSince, `${fileName}:1`) > target) return undefined
  lines.forEach((line, i) => {
    const where = `${fileName}:${i + 1}`
    const marker = MARKER.exec(line)
    if (marker) {
      const [, name, arg, until] = marker as unknown as [string, string, string, string | undefined]
      if (name === 'file-since') {
        if (i !== 0) throw new Error(`${where}: @file-since must be the first line`)
        return
      }
      if (name === 'since' || name === 'todo' || name === 'until' || name === 'imports') {
        if (region) throw new Error(`${where}: @${name} inside another region (regions do not nest)`)
        const end = name === 'until' ? stepIndex(arg, where) : until === undefined ? undefined : stepIndex(until, where)
        const from = name === 'until' ? 0 : stepIndex(arg, where)
        if (end !== undefined && end <= from) throw new Error(`${where}: a region cannot end (until ${STEPS[end]!.id}) before it begins`)
        const kind = name === 'todo' || name === 'imports' ? name : 'since'
        region = { kind, step: from, until: end, part: kind === 'since' ? 'since' : 'todo' }
        return
      }
      if (!region) throw new Error(`${where}: @${name} outside a region`)
      if (name === 'end') region = undefined
      else if (region.kind === 'since') throw new Error(`${where}: @${name} belongs in a @todo or @imports region`)
      else region.part = name as 'starter' | 'solution'
      return
    }
    if (!region) return void out.push(line)
    // Code that is not the last step's solution is a comment in the master, so that the master is the solution and
    // valid TypeScript: starter code, and a replaced region's code (a TODO's own comment excepted).
    const commented = region.part === 'starter' || (region.until !== undefined && region.part !== 'todo')
    const code = commented ? /^(\s*)\/\/ ?(.*)$/.exec(line) : undefined
    if (commented && !code && line.trim()) throw new Error(`${where}: ${region.part === 'starter' ? 'starter code' : 'code a later step replaces'} must be commented out in the master (// return 0)`)
    if (region.step > target) return // a later step's code: not there yet
    if (region.until !== undefined && target >= region.until) return // replaced from that step on
    if (region.kind === 'imports' && region.part === 'todo' && line.trim()) throw new Error(`${where}: an @imports region has no TODO: only @starter and @solution parts`)
    const learnersTurn = region.kind !== 'since' && region.step === target && kind === 'steps'
    const keep = region.part === 'since' || (learnersTurn ? region.part !== 'solution' : region.part === 'solution')
    if (keep) out.push(code ? code[1]! + code[2]! : line)
  })
  if (region) throw new Error(`${fileName}: a region is not closed with // @end`)
  // Dropped regions can leave two blank lines in a row.
  return out.join('\n').replace(/\n{3,}/g, '\n\n')
}

/** Every generated file of one step folder: file name -> content. */
export function deriveStep(step: Step, kind: Kind): Map<string, string> {
  const files = new Map<string, string>()
  for (const name of fs.readdirSync(MASTER_DIR).sort()) {
    if (!name.endsWith('.ts')) continue
    const content = deriveFile(fs.readFileSync(path.join(MASTER_DIR, name), 'utf8'), name, step, kind)
    if (content !== undefined) files.set(name, content)
  }
  if (kind === 'solutions') files.set('README.md', solutionReadme(step))
  return files
}

function solutionReadme(step: Step): string {
  return `# Solution of step ${step.id}\n\nThe finished engine of step ${step.number} (${step.title}): ${step.summary}.\n\n` +
    `Run it: \`sudo sh bin/node solutions/${step.id}/main.ts run /bin/sh\` (from the repository's root), or check it:\n` +
    `\`npm run check ${step.id} -- --solution\`.\n\n` +
    `Generated by \`npm run derive\` from \`engine/all-steps/\`: edit there, not here.\n`
}

/** The generated files that differ from what is on disk: "steps/03-cgroups/cgroups.ts (differs)". */
export function findDrift(steps: readonly Step[] = STEPS): string[] {
  const drift: string[] = []
  for (const step of steps) {
    for (const kind of ['steps', 'solutions'] as const) {
      const dir = path.join(PROJECT_ROOT, kind, step.id)
      const expected = deriveStep(step, kind)
      for (const [name, content] of expected) {
        const file = path.join(dir, name)
        const actual = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined
        if (actual !== content) drift.push(`${path.relative(PROJECT_ROOT, file)} (${actual === undefined ? 'missing' : 'differs'})`)
      }
      const extra = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.ts') && !expected.has(n)) : []
      drift.push(...extra.map((n) => `${kind}/${step.id}/${n} (not generated: remove it, or add it to engine/all-steps)`))
    }
  }
  return drift
}

export function writeStep(step: Step, kind: Kind, dir = path.join(PROJECT_ROOT, kind, step.id)): string[] {
  fs.mkdirSync(dir, { recursive: true })
  const files = deriveStep(step, kind)
  for (const [name, content] of files) fs.writeFileSync(path.join(dir, name), content)
  return [...files.keys()].map((name) => path.join(dir, name))
}

/** One `@todo` region of the master: a TODO the learner writes. */
export interface TodoRegion {
  /** "03.2", from the `TODO(03.2):` line of its comment. */
  id: string
  step: Step
  /** The master file's name, e.g. "cgroups.ts" (the same name in steps/ and solutions/). */
  file: string
  /** The function the TODO is in, e.g. "writeLimits". */
  fn: string | undefined
  /** The TODO comment as the starter shows it (its lines, `//` included). */
  comment: string[]
  /** The code of the solution (level 3 of the hints), indentation as in the file. */
  solution: string[]
}

/** Every TODO region of the master, in file order. Throws, saying where, on a region without a TODO(NN.k) line. */
export function todoRegions(): TodoRegion[] {
  const out: TodoRegion[] = []
  for (const name of fs.readdirSync(MASTER_DIR).filter((n) => n.endsWith('.ts')).sort()) {
    const lines = fs.readFileSync(path.join(MASTER_DIR, name), 'utf8').split('\n')
    let current: (TodoRegion & { part: string; start: number; replaced: boolean }) | undefined
    lines.forEach((line, i) => {
      const marker = MARKER.exec(line)
      if (marker?.[1] === 'todo') {
        // A function of code that a later step replaces is commented out in the master: `// export function changeRoot(`.
        // A region at the top level (not indented: a list, a constant) is in no function.
        const fn = /^\s/.test(line) ? lines.slice(0, i).reverse().map((l) => /^(?:\/\/ )?(?:export )?(?:async )?function (\w+)/.exec(l)?.[1]).find(Boolean) : undefined
        current = { id: '', step: STEPS[stepIndex(marker[2]!, `${name}:${i + 1}`)]!, file: name, fn, comment: [], solution: [], part: 'todo', start: i + 1, replaced: marker[3] !== undefined }
        return
      }
      if (!current) return
      if (marker) {
        if (marker[1] !== 'end') return void (current.part = marker[1]!)
        if (!current.id) throw new Error(`${name}:${current.start}: a @todo region without a TODO(NN.k) line`)
        const { part: _part, start: _start, replaced: _replaced, ...region } = current
        out.push(region)
        current = undefined
        return
      }
      if (current.part === 'todo') {
        current.comment.push(line)
        current.id ||= /TODO\((\d\d\.\d+)\)/.exec(line)?.[1] ?? ''
      } else if (current.part === 'solution') current.solution.push(current.replaced ? line.replace(/^(\s*)\/\/ ?/, '$1') : line)
    })
  }
  return out
}

/** TODO ids in course order: 01.2 before 01.10. */
export function compareTodoIds(a: string, b: string): number {
  const [a1, a2] = a.split('.').map(Number) as [number, number]
  const [b1, b2] = b.split('.').map(Number) as [number, number]
  return a1 - b1 || a2 - b2
}
