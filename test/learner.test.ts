// The learner's commands (learner/): the terminal renderer, hint, reset, solution, the HTML
// build with a real headless-Chromium screenshot, and the lessons' agreement with the TODOs.
// Nothing here touches the real steps/ folders: every test works on a temporary copy made
// with writeStep(step, kind, tmpDir).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import kleur from 'kleur'
import { marked, type Token } from 'marked'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PROJECT_ROOT, STEPS, findStep, type Step } from '../lib/steps.ts'
import { deriveStep, writeStep } from '../lib/derive.ts'
import { unifiedDiff } from '../learner/diff.ts'
import { answerHint, parseHintArgs } from '../learner/hint.ts'
import { courseTodos, experimentsOf, hintFilesAsWritten, todosOf } from '../learner/course.ts'
import { statusLines } from '../learner/status.ts'
import { todoRegions } from '../lib/derive.ts'
import type { Progress } from '../learner/progress.ts'
import { buildLessonsHtml, findChromium, lessonHtml, pageName, screenshot, slug } from '../learner/html.ts'
import { resetStep } from '../learner/reset.ts'
import { findTodos, headingsOf, readLesson, sectionOf } from '../learner/shared.ts'
import { stepPassed } from '../learner/progress.ts'
import { solutionDiff } from '../learner/solution.ts'
import { renderMarkdown, stripAnsi, visibleWidth } from '../learner/terminal.ts'
import { readPng } from './helpers/png.ts'

const step = (n: number): Step => findStep(String(n))!
const tmpDirs: string[] = []
function tmp(prefix = 'mc-learner-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  tmpDirs.push(dir)
  return dir
}
/** A fresh copy of a step's starter (or solution) in a temporary folder. */
function copyOf(s: Step, kind: 'steps' | 'solutions'): string {
  const dir = tmp(`mc-${s.id}-`)
  writeStep(s, kind, dir)
  return dir
}

let colorsWere: boolean
beforeAll(() => {
  colorsWere = kleur.enabled
  kleur.enabled = false
})
afterAll(() => {
  kleur.enabled = colorsWere
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true })
})

/** Every line of every code block of a Markdown text (they may exceed 80 columns). */
function codeLines(markdown: string): Set<string> {
  const lines = new Set<string>()
  marked.walkTokens(marked.lexer(markdown), (token: Token) => {
    if (token.type === 'code') for (const line of token.text.split('\n')) lines.add(line.trim())
  })
  return lines
}

function tooWide(markdown: string, rendered: string): string[] {
  const code = codeLines(markdown)
  return rendered.split('\n').filter((line) => visibleWidth(line) > 80 && !code.has(stripAnsi(line).trim()))
}

describe('the terminal renderer', () => {
  const sample = [
    '# Step 9: A title',
    '',
    'A paragraph with `inline code`, **bold** and a [link](https://example.com). '.repeat(4),
    '',
    '## 1. A section',
    '',
    '- a list item that is long enough to need wrapping at eighty columns, surely, yes indeed it is',
    '- second item',
    '',
    '1. first',
    '2. second',
    '',
    '```ts',
    "const aVeryLongLineOfCodeThatMustNotBeWrapped = 'because wrapping code changes its meaning, and it is longer than 80'",
    '```',
    '',
    '| flag | meaning |',
    '|---|---|',
    '| `CLONE_NEWNS` | mount |',
    '| `CLONE_NEWUTS` | hostname |',
    '',
    '| a | b |',
    '|---|---|',
    `| ${'wide '.repeat(12)} | ${'wider '.repeat(12)} |`,
  ].join('\n')
  const out = renderMarkdown(sample)

  it('renders headings, lists, code and tables readably', () => {
    expect(out).toContain('Step 9: A title\n═══════════════')
    expect(out).toContain('1. A section\n────────────')
    expect(out).toMatch(/^• a list item/m)
    expect(out).toMatch(/^1\. first\n2\. second$/m)
    expect(out).toContain("  const aVeryLongLineOfCodeThatMustNotBeWrapped = 'because wrapping code changes its meaning, and it is longer than 80'")
    expect(out).toMatch(/^flag\s+│ meaning$/m)
    expect(out).toMatch(/^`CLONE_NEWNS`\s+│ mount$/m)
    // a table too wide for 80 columns becomes one record per row
    expect(out).toMatch(/^a: wide wide/m)
    expect(out).toMatch(/^b: wider wider/m)
    // inline code keeps its backticks without colours; links show their address
    expect(out).toContain('`inline code`')
    expect(out).toContain('link (https://example.com)')
    expect(out).not.toContain('**')
  })

  it('keeps every line but code within 80 columns', () => {
    expect(tooWide(sample, out)).toEqual([])
  })

  it.each(STEPS.map((s) => [s.id, s] as const))('renders the lesson of %s within 80 columns (code excepted)', (_id, s) => {
    const markdown = readLesson(s)
    const rendered = renderMarkdown(markdown)
    expect(rendered).toContain(`Step ${s.number}:`)
    expect(tooWide(markdown, rendered)).toEqual([])
  })
})

describe('the lessons and the TODOs agree', () => {
  it.each(STEPS.map((s) => [s.id, s] as const))('%s: every TODO is in the lesson, and names one of its headings', (_id, s) => {
    const markdown = readLesson(s)
    const headings = headingsOf(markdown).map((h) => h.text)
    const own = findTodos(copyOf(s, 'steps')).filter((t) => t.id.startsWith(s.id.slice(0, 2) + '.'))
    expect(own.length).toBeGreaterThan(0)
    for (const todo of own) {
      expect(markdown, `lesson of ${s.id} mentions TODO(${todo.id})`).toContain(`TODO(${todo.id})`)
      expect(todo.lesson, `TODO(${todo.id}) names its lesson section`).toBeDefined()
      expect(headings, `TODO(${todo.id}) names "${todo.lesson}"`).toContain(todo.lesson)
    }
    // The sections come in the order of the TODOs.
    const order = own.map((t) => headings.indexOf(t.lesson!))
    expect(order).toEqual([...order].sort((a, b) => a - b))
  })

  it.each(STEPS.map((s) => [s.id, s] as const))('%s: the lesson has a check section with a failing and a passing transcript', (_id, s) => {
    const markdown = readLesson(s)
    expect(markdown).toContain(`npm run check step-${s.id.slice(0, 2)}`)
    expect(markdown).not.toMatch(/@@TRANSCRIPT|TODO: transcript|placeholder/i)
    expect(markdown).toMatch(/^✘ /m)
    expect(markdown).toMatch(/\d+ passed, 0 failed/)
    expect(markdown).toMatch(/## When it fails/)
    expect(markdown).toMatch(/## What runc and crun do differently/)
  })
})

describe('hint', () => {
  const progress = (steps: Progress['steps']): Progress => ({ steps })
  const failing = (todo: string, levels: Record<string, number> = {}) => ({
    passed: false,
    everPassed: false,
    checkedAt: 'x',
    failed: ['03.oom'],
    todo,
    hintLevels: levels,
  })

  it('helps with the TODO behind the first failing check of the last check, one level at a time', () => {
    const s = step(3)
    const first = answerHint({ step: s }, progress({ '03-cgroups': failing('03.3') }), () => copyOf(s, 'steps'))
    expect(first.todo?.id).toBe('03.3')
    expect(first.level).toBe(1)
    expect(first.text).toContain('TODO(03.3)')
    expect(first.text).toContain('failed first at 03.oom')
    expect(first.text).toContain(first.todo!.nudge)
    expect(first.text).not.toContain(first.todo!.api)
    expect(first.text).toMatch(/cgroups\.ts:\d+, in joinCgroup\(\)/) // the TODO comment's line in the learner's file
    const second = answerHint({ step: s }, progress({ '03-cgroups': failing('03.3', { '03.3': 1 }) }))
    expect(second.level).toBe(2)
    expect(second.text).toContain(second.todo!.api)
    expect(second.text).not.toContain('```ts')
    const third = answerHint({ step: s }, progress({ '03-cgroups': failing('03.3', { '03.3': 2 }) }))
    expect(third.level).toBe(3)
    const region = todoRegions().find((r) => r.id === '03.3')!
    for (const line of region.solution.filter((l) => l.trim())) expect(third.text).toContain(line.trim())
    // After the last level it stays at the code.
    expect(answerHint({ step: s }, progress({ '03-cgroups': failing('03.3', { '03.3': 3 }) })).level).toBe(3)
  })

  it('without a recorded check: the step\'s first TODO, and a word on running the check', () => {
    const answer = answerHint({ step: step(2) }, progress({}))
    expect(answer.todo?.id).toBe('02.1')
    expect(answer.text).toContain('npm run check 2')
  })

  it('a TODO and a level can be asked for; --level 3 is the code', () => {
    const answer = answerHint({ todo: '01.3', level: 3 }, progress({}))
    expect(answer.step.id).toBe('01-namespaces')
    expect(answer.text).toContain('Level 3: the code')
  })

  it('a passed step: no hint, its experiments instead; --experiment shows the answer', () => {
    const passed = answerHint({ step: step(4) }, progress({ '04-network': { passed: true, everPassed: true, checkedAt: 'x', failed: [] } }))
    expect(passed.todo).toBeUndefined()
    for (const e of experimentsOf(step(4))) expect(passed.text).toContain(e.id)
    const e = experimentsOf(step(4))[0]!
    const answer = answerHint({ step: step(4), experiment: e.id }, progress({}))
    expect(answer.text).toContain(e.predict)
    expect(answer.text).toContain(e.answer)
  })

  it('reads its arguments: a step, a TODO, --level, --experiment; refuses what it does not know', () => {
    expect(parseHintArgs(['3', '03.2', '--level', '2'])).toMatchObject({ step: step(3), todo: '03.2', level: 2 })
    expect(parseHintArgs(['03.2'])).toMatchObject({ todo: '03.2' })
    expect(() => parseHintArgs(['--level', '4'])).toThrow(/levels are 1/)
    expect(() => parseHintArgs(['07.9'])).toThrow(/no TODO\(07\.9\)/)
    expect(() => parseHintArgs(['--levl', '2'])).toThrow(/unknown option --levl/)
  })

  it('records the level shown; status shows the levels used, and "solved without hints"', () => {
    const file = path.join(tmp(), 'progress.json')
    const env = { ...process.env, MINICONTAINER_PROGRESS: file, NO_COLOR: '1' }
    for (let i = 0; i < 2; i++) {
      const r = spawnSync(process.execPath, ['learner/hint.ts', '3', '03.2', '--no-pager'], { cwd: PROJECT_ROOT, encoding: 'utf8', env })
      expect(r.status).toBe(0)
      expect(r.stdout).toContain(`hint level ${i + 1} of 3`)
    }
    const data = JSON.parse(fs.readFileSync(file, 'utf8')) as Progress
    expect(data.steps['03-cgroups']?.hintLevels).toEqual({ '03.2': 2 })
    data.steps['01-namespaces'] = { passed: true, everPassed: true, checkedAt: '2026-11-30T10:00:00Z', failed: [] }
    const lines = statusLines(data)
    expect(lines[0]).toMatch(/✔ 01 .*solved without hints/)
    expect(lines[2]).toMatch(/03 cgroups .*hints: 03\.2 level 2/)
  })
})

describe('the hints files', () => {
  it('every TODO of the master has all three levels: a concept, a nudge, the API (the code comes from the master)', () => {
    const regions = todoRegions()
    expect(regions.length).toBeGreaterThan(10)
    for (const todo of courseTodos()) {
      expect(todo.concept, todo.id).not.toMatch(/^TODO\(/)
      expect(todo.nudge.length, `${todo.id} level 1`).toBeGreaterThan(40)
      expect(todo.api.length, `${todo.id} level 2`).toBeGreaterThan(40)
      expect(todo.code.trim().length, `${todo.id} level 3`).toBeGreaterThan(0)
    }
  })

  it('level 3 is the solution\'s code: the same lines are in solutions/', () => {
    for (const todo of courseTodos()) {
      const solution = fs.readFileSync(path.join(PROJECT_ROOT, 'solutions', todo.step.id, todo.file), 'utf8')
      expect(solution, `TODO(${todo.id})`).toContain(todo.code)
    }
  })

  it('names only TODOs that exist, each once, in the right step file', () => {
    const ids = new Set(todoRegions().map((r) => r.id))
    for (const file of hintFilesAsWritten()) {
      const seen = file.todos.map((t) => t.id)
      expect(new Set(seen).size, `${file.step}: duplicate TODO ids`).toBe(seen.length)
      for (const id of seen) {
        expect(ids.has(id), `${file.step}: TODO(${id}) is not in engine/all-steps`).toBe(true)
        expect(id.slice(0, 2), `${file.step}: TODO(${id})`).toBe(file.step.slice(0, 2))
      }
    }
  })

  it.each(STEPS.map((s) => [s.id, s] as const))('%s: at least 3 experiments (predict, run, explain), ids of the step', (_id, s) => {
    const experiments = experimentsOf(s)
    expect(experiments.length).toBeGreaterThanOrEqual(3)
    for (const e of experiments) {
      expect(e.id).toMatch(new RegExp(`^${s.id.slice(0, 2)}\\.x\\d+$`))
      for (const field of [e.title, e.try, e.predict, e.answer]) expect(field.trim().length).toBeGreaterThan(5)
    }
    expect(new Set(experiments.map((e) => e.id)).size).toBe(experiments.length)
    expect(todosOf(s).length).toBeGreaterThan(0)
  })
})

describe('reset', () => {
  it('restores the starter and keeps a backup of the learner\'s files', () => {
    const s = step(3)
    const dir = copyOf(s, 'steps')
    const backups = tmp('mc-backups-')
    const file = path.join(dir, 'cgroups.ts')
    fs.writeFileSync(file, '// my work in progress\n')
    fs.writeFileSync(path.join(dir, 'extra.ts'), '// a helper I added\n')
    fs.writeFileSync(path.join(dir, 'README.md'), '# the lesson stays\n')
    const result = resetStep(s, { dir, backupRoot: backups, now: new Date('2026-11-29T10:31:05Z') })
    expect(result.backup).toBe(path.join(backups, '03-cgroups-2026-11-29T10-31-05'))
    expect(fs.readFileSync(path.join(result.backup!, 'cgroups.ts'), 'utf8')).toBe('// my work in progress\n')
    expect(fs.readFileSync(path.join(result.backup!, 'extra.ts'), 'utf8')).toBe('// a helper I added\n')
    expect(fs.readFileSync(file, 'utf8')).toBe(deriveStep(s, 'steps').get('cgroups.ts'))
    expect(fs.existsSync(path.join(dir, 'extra.ts'))).toBe(false)
    expect(fs.readFileSync(path.join(dir, 'README.md'), 'utf8')).toBe('# the lesson stays\n')
    expect(result.changed).toEqual(['cgroups.ts', 'extra.ts'])
  })

  it('does nothing (and backs up nothing) when the folder already is the starter', () => {
    const s = step(1)
    const dir = copyOf(s, 'steps')
    const backups = tmp('mc-backups-')
    const result = resetStep(s, { dir, backupRoot: backups })
    expect(result).toEqual({ backup: undefined, changed: [], written: [] })
    expect(fs.readdirSync(backups)).toEqual([])
  })

  it('never overwrites an earlier backup made in the same second', () => {
    const s = step(1)
    const dir = copyOf(s, 'steps')
    const backups = tmp('mc-backups-')
    const now = new Date('2026-11-29T10:00:00Z')
    fs.appendFileSync(path.join(dir, 'namespaces.ts'), '// one\n')
    const first = resetStep(s, { dir, backupRoot: backups, now }).backup
    fs.appendFileSync(path.join(dir, 'namespaces.ts'), '// two\n')
    const second = resetStep(s, { dir, backupRoot: backups, now }).backup
    expect(first).not.toBe(second)
    expect(fs.readdirSync(backups).sort()).toEqual(['01-namespaces-2026-11-29T10-00-00', '01-namespaces-2026-11-29T10-00-00-2'])
  })
})

describe('solution', () => {
  it('diffs the learner\'s files against the solution', () => {
    const s = step(1)
    const diff = solutionDiff(s, { dir: copyOf(s, 'steps'), solutionDir: copyOf(s, 'solutions') })
    expect(diff).toMatch(/^--- .*namespaces\.ts$/m)
    expect(diff).toMatch(/^\+\+\+ .*namespaces\.ts$/m)
    expect(diff).toMatch(/^- {2}\/\/ TODO\(01\.1\)/m)
    expect(diff).toMatch(/^\+ {2}unshare\(CLONE_NEWPID\)$/m)
    expect(diff).not.toMatch(/^[-+].*\/main\.js$/m) // identical files: no diff
  })

  it('is empty when the learner\'s files are the solution', () => {
    const s = step(4)
    expect(solutionDiff(s, { dir: copyOf(s, 'solutions'), solutionDir: copyOf(s, 'solutions') })).toBe('')
  })

  const hasDiff = spawnSync('diff', ['--version']).status === 0
  it.skipIf(!hasDiff)('writes the same hunks as diff -u', () => {
    const a = 'one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\ntwelve\n'
    const b = 'one\n2\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\ntwelve\nthirteen\n'
    const dir = tmp()
    fs.writeFileSync(path.join(dir, 'a'), a)
    fs.writeFileSync(path.join(dir, 'b'), b)
    const system = spawnSync('diff', ['-u', 'a', 'b'], { cwd: dir, encoding: 'utf8' })
    const hunks = (text: string) => text.split('\n').filter((l) => !l.startsWith('---') && !l.startsWith('+++')).join('\n')
    expect(hunks(unifiedDiff(a, b, 'a', 'b'))).toBe(hunks(system.stdout))
  })

  it('reads the checker\'s progress file', () => {
    const file = path.join(tmp(), 'progress.json')
    expect(stepPassed(step(3), file)).toBe(false) // no file
    fs.writeFileSync(
      file,
      JSON.stringify({
        steps: {
          '03-cgroups': { passed: false, everPassed: true, checkedAt: 'x', failed: [] },
          '04-network': { passed: false, everPassed: false, checkedAt: 'x', failed: ['04.netns'] },
        },
      }),
    )
    expect(stepPassed(step(3), file)).toBe(true)
    expect(stepPassed(step(4), file)).toBe(false)
    fs.writeFileSync(file, '{not json')
    expect(stepPassed(step(3), file)).toBe(false)
  })
})

describe('the commands on bad input: one line, a non-zero exit, no stack trace', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, args, {
    cwd: PROJECT_ROOT, encoding: 'utf8', input: '',
    env: { ...process.env, NO_COLOR: '1', MINICONTAINER_PROGRESS: path.join(os.tmpdir(), 'mc-no-progress.json') },
  })
  it.each([
    ['learner/lesson.ts', 'nine'],
    ['learner/hint.ts', '10'],
    ['learner/reset.ts', 'step-99'],
    ['learner/solution.ts', '07-foo'],
    ['learner/reset.ts'],
    ['learner/hint.ts', '3', '--bogus'],
  ])('%s %s', (...args) => {
    const result = run(...args)
    expect(result.status).not.toBe(0)
    expect(result.stdout).toBe('')
    const lines = result.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).not.toMatch(/\bat .*\.ts:\d+/)
  })

  it('solution refuses without a terminal, --yes or a passed step', () => {
    const result = run('learner/solution.ts', 'step-02')
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/has not passed .*--yes/)
    expect(result.stdout).not.toContain('+++')
  })

  it('accepts every way of naming a step', () => {
    for (const name of ['3', '03', 'step-03', '03-cgroups', 'cgroups']) {
      const result = run('learner/lesson.ts', name, '--no-pager')
      expect(result.status, name).toBe(0)
      expect(result.stdout).toContain('Step 3: cgroups')
    }
  })
})

describe('the HTML lessons', () => {
  let out: string
  beforeAll(() => {
    out = tmp('mc-html-')
    buildLessonsHtml(out)
  })

  it('has an index and one page per step, linked together', () => {
    const index = fs.readFileSync(path.join(out, 'index.html'), 'utf8')
    for (const s of STEPS) {
      expect(index).toContain(`href="${pageName(s)}"`)
      const page = fs.readFileSync(path.join(out, pageName(s)), 'utf8')
      expect(page).toContain('<link rel="stylesheet" href="style.css">')
      expect(page).toMatch(/<h1 id="[^"]+">/)
      expect(page).not.toMatch(/src="https?:|href="https?:\/\/[^"]*\.css/) // nothing fetched from the network
    }
    expect(fs.existsSync(path.join(out, 'style.css'))).toBe(true)
  })

  it('gives every TODO\'s section an anchor', () => {
    for (const s of STEPS) {
      const page = fs.readFileSync(path.join(out, pageName(s)), 'utf8')
      for (const todo of findTodos(copyOf(s, 'steps')).filter((t) => t.id.startsWith(s.id.slice(0, 2) + '.'))) {
        expect(page).toContain(`id="${slug(todo.lesson!)}"`)
      }
    }
  })

  it('turns links between lessons into links between pages', () => {
    expect(lessonHtml('[next](../03-cgroups/README.md#2-create-a-cgroup)')).toContain('href="03-cgroups.html#2-create-a-cgroup"')
  })

  const chromium = findChromium()
  if (!chromium && process.env.CI === 'true') {
    it('has Chromium under CI', () => {
      throw new Error('CI=true but no Chromium: apt-get install chromium (see .ci/run)')
    })
  }
  it.skipIf(!chromium)('renders in headless Chromium: a page with text, headings and the accent colour, not a blank screen', () => {
    const png = path.join(tmp('mc-shot-'), 'lesson.png')
    screenshot(path.join(out, pageName(step(3))), png, { width: 1280, height: 900 })
    const image = readPng(fs.readFileSync(png))
    expect([image.width, image.height]).toEqual([1280, 900])
    let dark = 0
    let accent = 0
    for (let i = 0; i < image.pixels.length; i += 4) {
      const [r, g, b] = [image.pixels[i]!, image.pixels[i + 1]!, image.pixels[i + 2]!]
      if (r + g + b < 200) dark++
      if (b > 120 && r < 60 && g > 60 && g < 120) accent++ // #0b5cad, the links and rules
    }
    const share = dark / (image.width * image.height)
    expect(share, 'text on the page').toBeGreaterThan(0.01)
    expect(share, 'not a black page').toBeLessThan(0.5)
    expect(accent, 'the navigation and the heading rule').toBeGreaterThan(1000)
  }, 120_000)
  if (!chromium && process.env.CI !== 'true') console.warn('skipping the Chromium screenshot test: no Chromium (apt-get install chromium)')
})

describe('sections', () => {
  it('cuts a lesson at the next heading of the same level', () => {
    const md = '# T\n\n## 1. A\n\ntext a\n\n### detail\n\nmore\n\n## 2. B\n\ntext b\n'
    expect(sectionOf(md, '1. A')).toBe('## 1. A\n\ntext a\n\n### detail\n\nmore\n')
    expect(sectionOf(md, 'nope')).toBeUndefined()
  })
  it('ignores # lines inside code blocks', () => {
    expect(headingsOf('## a\n\n```sh\n# a comment\n```\n').map((h) => h.text)).toEqual(['a'])
  })
})
