// `npm run lint`: the rules a formatter would keep, checked over every file git knows (`npm test` runs it after the
// type-check). Prints one line per problem, `FILE:LINE: what`, and exits 1 if there is any.
//   - code lines at most 140 characters. A line may run past only for text a reader wants whole: a string literal
//     of prose (60 characters or more), a URL, a regular expression (the rule of ESLint's max-len with
//     ignoreStrings, ignoreUrls and ignoreRegExpLiterals, for the hints and messages that are written as prose)
//   - no tab characters in TypeScript/JavaScript, no whitespace at line ends, a newline at the end of the file
//   - the shell scripts pass shellcheck (when it is installed: CI installs it)
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { parseCommandLine } from '../lib/args.ts'
import { formatError } from '../lib/errors.ts'
import { PROJECT_ROOT } from '../lib/steps.ts'

export const MAX_LINE = 140
const CODE = /\.(ts|js|mjs|sh)$|(^|\/)Vagrantfile$/
// A long literal only: '...', "...", `...` of 60+ characters, a URL, a regular expression literal of 40+.
const EXEMPT = [/'(?:[^'\\]|\\.){60,}'/, /"(?:[^"\\]|\\.){60,}"/, /`[^`]{60,}/, /https?:\/\/\S+/, /\/(?:[^/\n\\]|\\.){40,}\/[dgimsuy]*/]

/** The problems of one file's text, as `LINE: what`. */
export function lintText(name: string, text: string): string[] {
  const problems: string[] = []
  const lines = text.split('\n')
  if (text.length > 0 && !text.endsWith('\n')) problems.push(`${lines.length}: no newline at the end of the file`)
  lines.forEach((line, i) => {
    const at = i + 1
    if (line.length > MAX_LINE && !EXEMPT.some((re) => re.test(line))) {
      problems.push(`${at}: ${line.length} characters (at most ${MAX_LINE})`)
    }
    if (/[ \t]+$/.test(line)) problems.push(`${at}: whitespace at the end of the line`)
    if (/\.(ts|js|mjs)$/.test(name) && line.includes('\t')) problems.push(`${at}: a tab character (indent with spaces)`)
  })
  return problems
}

function trackedFiles(): string[] {
  const result = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: PROJECT_ROOT, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`lint: git ls-files failed (${result.error?.message ?? result.stderr.trim()}): run it in the repository`)
  return result.stdout.split('\0').filter((f) => CODE.test(f) && fs.existsSync(path.join(PROJECT_ROOT, f)))
}

/** Every problem of the project's files, `FILE:LINE: what`; shellcheck's own report after them. */
export function lint(): { problems: string[]; shellcheck: string } {
  const files = trackedFiles()
  const problems = files.flatMap((f) => lintText(f, fs.readFileSync(path.join(PROJECT_ROOT, f), 'utf8')).map((p) => `${f}:${p}`))
  const scripts = files.filter((f) => f.endsWith('.sh'))
  const check = spawnSync('shellcheck', ['--external-sources', ...scripts], { cwd: PROJECT_ROOT, encoding: 'utf8' })
  const shellcheck = check.error ? '' : check.status === 0 ? '' : check.stdout
  return { problems, shellcheck }
}

if (import.meta.main) {
  try {
    parseCommandLine(process.argv.slice(2), {}, { usage: 'usage: npm run lint (no arguments: it checks every file git knows)' })
    const { problems, shellcheck } = lint()
    for (const p of problems) console.log(p)
    if (shellcheck) console.log(shellcheck)
    if (problems.length || shellcheck) {
      console.log(`lint: ${problems.length} problem(s)${shellcheck ? ", and shellcheck's above" : ''}`)
      process.exitCode = 1
    } else console.log('lint: ok')
  } catch (error) {
    console.error(formatError('lint', error))
    process.exitCode = 2
  }
}
