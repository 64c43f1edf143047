// Finds solution code where a learner reads before asking for it: a line of a `@solution` block of the master
// engine (engine/all-steps) that appears, whitespace aside, in a starter's comments, a lesson or guide, a hints
// file's levels 1-2 or experiments, or a string of the checker (what it prints). `npm run hint` level 3 and
// `npm run solution` are the only places the code may be shown.
import fs from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import { todoRegions } from '../../lib/derive.ts'
import { PROJECT_ROOT, STEPS } from '../../lib/steps.ts'
import { hintFilesAsWritten } from '../../learner/course.ts'

/** Whitespace-insensitive: "mount(null, '/', ...)" and "mount(null,'/',...)" are the same line. */
export function normalize(text: string): string {
  return text.replace(/\s+/g, '')
}

/** A line without its trailing `// comment` (a `//` inside a string or template is kept). */
export function stripLineComment(line: string): string {
  let quote: string | undefined
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (quote) {
      if (ch === '\\') i++
      else if (ch === quote) quote = undefined
    } else if (ch === "'" || ch === '"' || ch === '`') quote = ch
    else if (ch === '/' && line[i + 1] === '/') return line.slice(0, i)
  }
  return line
}

/**
 * The minimum for a solution line to count: it DOES something (a call, an assignment or a condition: it contains
 * `(`, `=`, `?` or a template) and has at least 8 characters without whitespace. What is left out is braces and
 * keywords (`}`, `} else {`, `try {`), which say nothing about the answer and would match any prose; the shortest
 * line that counts in the master is a call like `chdir('/')` (10 characters).
 */
export const MIN_LINE = 8
export function isTrivial(normalized: string): boolean {
  return normalized.length < MIN_LINE || !/[(=?`]/.test(normalized)
}

export interface SolutionLine {
  todo: string
  /** As written in the master (trimmed). */
  line: string
  normalized: string
}

/** Every non-trivial code line of every @solution block (comment lines and trailing comments left out). */
export function solutionLines(): SolutionLine[] {
  const out: SolutionLine[] = []
  for (const region of todoRegions()) {
    for (const raw of region.solution) {
      const code = stripLineComment(raw).trim()
      const normalized = normalize(code)
      if (!code || code.startsWith('/*') || code.startsWith('*') || isTrivial(normalized)) continue
      out.push({ todo: region.id, line: code, normalized })
    }
  }
  return out
}

/** A text a learner reads before asking for the code, and where it comes from. */
export interface Source {
  where: string
  text: string
}

/** The comments of a TypeScript file (line and block comments, each once). */
export function commentsOf(fileName: string, text: string): string[] {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true)
  const seen = new Map<number, string>()
  const visit = (node: ts.Node): void => {
    for (const range of [...(ts.getLeadingCommentRanges(text, node.getFullStart()) ?? []), ...(ts.getTrailingCommentRanges(text, node.getFullStart()) ?? [])]) {
      seen.set(range.pos, text.slice(range.pos, range.end))
    }
    node.getChildren(file).forEach(visit)
  }
  visit(file)
  return [...seen.entries()].sort(([a], [b]) => a - b).map(([, comment]) => comment)
}

/** The string and template literals of a TypeScript file: what it can print. */
export function stringsOf(fileName: string, text: string): string[] {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true)
  const out: string[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) out.push(node.text)
    node.getChildren(file).forEach(visit)
  }
  visit(file)
  return out
}

function tsFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((n) => n.endsWith('.ts')).sort().map((n) => path.join(dir, n))
}

const rel = (file: string): string => path.relative(PROJECT_ROOT, file)

/** Everything a learner reads before `npm run hint` level 3 or `npm run solution`. */
export function learnerSources(): Source[] {
  const sources: Source[] = []
  for (const step of STEPS) {
    for (const file of tsFiles(path.join(PROJECT_ROOT, 'steps', step.id))) {
      sources.push({ where: `${rel(file)} (comments)`, text: commentsOf(file, fs.readFileSync(file, 'utf8')).join('\n') })
    }
    const lesson = path.join(PROJECT_ROOT, 'steps', step.id, 'README.md')
    if (fs.existsSync(lesson)) sources.push({ where: rel(lesson), text: fs.readFileSync(lesson, 'utf8') })
  }
  for (const doc of ['README.md', 'docs/GUIDE.md']) sources.push({ where: doc, text: fs.readFileSync(path.join(PROJECT_ROOT, doc), 'utf8') })
  for (const file of hintFilesAsWritten()) {
    for (const todo of file.todos) sources.push({ where: `learner/hints/${file.step}.ts ${todo.id} (levels 1-2)`, text: [todo.concept, todo.nudge, todo.api].join('\n') })
    for (const e of file.experiments) sources.push({ where: `learner/hints/${file.step}.ts ${e.id}`, text: [e.title, e.try, e.predict, e.answer].join('\n') })
  }
  for (const file of tsFiles(path.join(PROJECT_ROOT, 'checker'))) {
    sources.push({ where: `${rel(file)} (strings)`, text: stringsOf(file, fs.readFileSync(file, 'utf8')).join('\n') })
  }
  return sources
}

export interface Leak {
  todo: string
  line: string
  where: string[]
}

/** Each solution line that appears somewhere a learner reads early, with where. */
export function findLeaks(lines = solutionLines(), sources = learnerSources()): Leak[] {
  const normalizedSources = sources.map((s) => ({ where: s.where, text: normalize(s.text) }))
  const leaks: Leak[] = []
  for (const l of lines) {
    const where = normalizedSources.filter((s) => s.text.includes(l.normalized)).map((s) => s.where)
    if (where.length) leaks.push({ todo: l.todo, line: l.line, where })
  }
  return leaks
}

// `sh bin/node test/helpers/leaks.ts`: the count, for the record.
if (import.meta.main) {
  const lines = solutionLines()
  const leaks = findLeaks(lines)
  for (const leak of leaks) console.log(`TODO(${leak.todo}) ${leak.line}\n    in ${leak.where.join('; ')}`)
  console.log(`${leaks.length} of ${lines.length} solution lines appear where a learner reads before asking for the code`)
}
