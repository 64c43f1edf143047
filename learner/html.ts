// `npm run lessons:html`: every lesson as a static site in dist/lessons/ (index.html and one
// page per step), for a projector or a browser, with no server and nothing fetched from the
// network: open dist/lessons/index.html.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Marked } from 'marked'
import { PROJECT_ROOT, STEPS, type Step, projectPath } from '../lib/steps.ts'
import { UsageError, parseCommandLine } from '../lib/args.ts'
import { FriendlyError } from '../lib/errors.ts'
import { readLesson, runCommand, stepFromArg } from './shared.ts'

export const HTML_DIR = path.join(PROJECT_ROOT, 'dist', 'lessons')

export function slug(text: string): string {
  return text.toLowerCase().replace(/<[^>]*>/g, '').replace(/[^\p{L}\p{N}\s-]/gu, '').trim().replace(/\s+/g, '-')
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

export function pageName(step: Step): string {
  return `${step.id}.html`
}

/** Markdown -> HTML, with ids on headings (links to a section) and links between lessons fixed up. */
export function lessonHtml(markdown: string): string {
  const marked = new Marked({ gfm: true })
  const used = new Map<string, number>()
  marked.use({
    renderer: {
      heading({ tokens, depth }) {
        const text = this.parser.parseInline(tokens)
        let id = slug(text) || 'section'
        const n = used.get(id) ?? 0
        used.set(id, n + 1)
        if (n) id += `-${n}`
        return `<h${depth} id="${id}"><a class="anchor" href="#${id}">#</a>${text}</h${depth}>\n`
      },
    },
    walkTokens(token) {
      if (token.type === 'link') {
        // ../03-cgroups/README.md#x -> 03-cgroups.html#x ; other repository files stay as written.
        token.href = token.href.replace(/^(?:\.\.\/)*(?:steps\/)?(\d\d-[a-z-]+)\/README\.md/, '$1.html').replace(/^README\.md(?=#|$)/, '')
      }
    },
  })
  return marked.parse(markdown, { async: false }) as string
}

const CSS = `
:root { --fg: #111; --bg: #fff; --muted: #555; --accent: #0b5cad; --code-bg: #f3f3f0; --border: #ccc; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #eee; --bg: #141414; --muted: #aaa; --accent: #6cb4ff; --code-bg: #222; --border: #444; }
}
* { box-sizing: border-box; }
html { font-size: 20px; }
body { margin: 0; color: var(--fg); background: var(--bg); font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; line-height: 1.5; }
nav { position: sticky; top: 0; background: var(--bg); border-bottom: 2px solid var(--border); padding: .4rem 1rem; display: flex; gap: 1rem; flex-wrap: wrap; font-size: .85rem; z-index: 1; }
nav a { color: var(--accent); text-decoration: none; font-weight: bold; }
nav a.current { color: var(--fg); border-bottom: 3px solid var(--accent); }
main { max-width: 52rem; margin: 0 auto; padding: 1rem 1.25rem 4rem; }
h1 { font-size: 2rem; line-height: 1.2; border-bottom: 3px solid var(--accent); padding-bottom: .3rem; }
h2 { font-size: 1.5rem; margin-top: 2.2rem; border-bottom: 1px solid var(--border); }
h3 { font-size: 1.2rem; margin-top: 1.6rem; }
h1, h2, h3 { position: relative; }
a.anchor { position: absolute; left: -1.1em; color: var(--border); text-decoration: none; font-weight: normal; visibility: hidden; }
h1:hover a.anchor, h2:hover a.anchor, h3:hover a.anchor { visibility: visible; }
a { color: var(--accent); }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
:not(pre) > code { background: var(--code-bg); padding: .05rem .3rem; border-radius: 4px; font-size: .9em; }
pre { background: var(--code-bg); border-left: 5px solid var(--accent); padding: .8rem 1rem; overflow-x: auto; font-size: .8rem; line-height: 1.35; white-space: pre-wrap; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .85rem; display: block; overflow-x: auto; }
th, td { border: 1px solid var(--border); padding: .35rem .6rem; text-align: left; vertical-align: top; }
th { background: var(--code-bg); }
blockquote { margin: 1rem 0; padding: .2rem 1rem; border-left: 5px solid #d98e04; background: var(--code-bg); }
.pager { display: flex; justify-content: space-between; margin-top: 3rem; font-weight: bold; }
.steps li { margin: .6rem 0; }
.summary { color: var(--muted); }
@media print { nav, .pager { display: none; } html { font-size: 12pt; } pre { white-space: pre-wrap; } }
`

function layout(title: string, current: string, body: string): string {
  const links = [`<a href="index.html"${current === 'index' ? ' class="current"' : ''}>minicontainer</a>`,
    ...STEPS.map((s) => `<a href="${pageName(s)}"${current === s.id ? ' class="current"' : ''}>${s.number}. ${escapeHtml(s.title)}</a>`)]
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
<nav>${links.join('\n')}</nav>
<main>
${body}
</main>
</body>
</html>
`
}

/** Writes the site; returns the files written. */
export function buildLessonsHtml(outDir = HTML_DIR): string[] {
  fs.mkdirSync(outDir, { recursive: true })
  const written: string[] = []
  const write = (name: string, content: string) => {
    const file = path.join(outDir, name)
    fs.writeFileSync(file, content)
    written.push(file)
  }
  write('style.css', CSS.trimStart())
  const items = STEPS.map((s) => `<li><a href="${pageName(s)}">Step ${s.number}: ${escapeHtml(s.title)}</a><br><span class="summary">${escapeHtml(s.summary)}</span></li>`)
  write('index.html', layout('minicontainer: the lessons', 'index', `<h1>minicontainer: the lessons</h1>
<p>Build a small container engine in TypeScript, one kernel feature per step. Each step: read the lesson,
fill in the TODOs in <code>steps/NN-name/</code>, then run <code>npm run check step-NN</code>.</p>
<ol class="steps">
${items.join('\n')}
</ol>
<p class="summary">In a terminal: <code>npm run lesson 1</code>, <code>npm run hint 1</code>. Generated by <code>npm run lessons:html</code>.</p>`))
  STEPS.forEach((step, i) => {
    const prev = STEPS[i - 1]
    const next = STEPS[i + 1]
    const pager = `<div class="pager"><span>${prev ? `<a href="${pageName(prev)}">← ${prev.number}. ${escapeHtml(prev.title)}</a>` : ''}</span>` +
      `<span>${next ? `<a href="${pageName(next)}">${next.number}. ${escapeHtml(next.title)} →</a>` : ''}</span></div>`
    write(pageName(step), layout(`Step ${step.number}: ${step.title} · minicontainer`, step.id, lessonHtml(readLesson(step)) + pager))
  })
  return written
}

/** The Chromium binary, if installed (Debian: the `chromium` package). */
export function findChromium(): string | undefined {
  const candidates = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']
  return candidates.find((file): file is string => Boolean(file) && fs.existsSync(file!))
}

/**
 * Renders a page in headless Chromium and saves a PNG of the first screen. Nothing is fetched
 * from the network (the pages need nothing), and the browser profile is a throw-away folder.
 */
export function screenshot(page: string, out: string, options: { width?: number; height?: number } = {}): void {
  const chromium = findChromium()
  if (!chromium) throw new FriendlyError('no Chromium found (apt-get install chromium, or set CHROMIUM=/path/to/it)', { exitCode: 1 })
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'minicontainer-chromium-'))
  try {
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true })
    fs.rmSync(out, { force: true })
    const result = spawnSync(chromium, [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--hide-scrollbars', `--user-data-dir=${profile}`,
      `--window-size=${options.width ?? 1280},${options.height ?? 900}`, `--screenshot=${path.resolve(out)}`,
      pathToFileURL(path.resolve(page)).href,
    ], { encoding: 'utf8', timeout: 90_000, killSignal: 'SIGKILL' })
    if (!fs.existsSync(out)) {
      throw new FriendlyError(`Chromium wrote no screenshot (status ${result.status ?? result.signal}): ${(result.stderr ?? '').trim().split('\n').slice(-1)[0] ?? ''}`, { exitCode: 1 })
    }
  } finally {
    fs.rmSync(profile, { recursive: true, force: true })
  }
}

async function main(args: string[]): Promise<number> {
  // `npm run lessons:html -- --screenshot FILE.png [STEP]`: also a picture of the top of one page.
  // (Not of a #section: headless Chromium paints a scrolled page blank.)
  const usage = 'usage: npm run lessons:html [-- --screenshot FILE.png [STEP]]'
  const { values, positionals: rest } = parseCommandLine(args, { screenshot: { type: 'string' } }, { positionals: true, usage })
  const shot = values.screenshot
  if (rest.length && !shot) throw new UsageError(`unexpected argument ${rest[0]}`, usage)
  const out = HTML_DIR
  const files = buildLessonsHtml(out)
  console.log(`lessons:html: wrote ${files.length} files; open ${projectPath(path.join(out, 'index.html'))}`)
  if (shot) {
    const step = rest[0] ? stepFromArg(rest[0], 'lessons:html') : undefined
    screenshot(path.join(out, step ? pageName(step) : 'index.html'), shot)
    console.log(`lessons:html: screenshot in ${projectPath(path.resolve(shot))}`)
  }
  return 0
}

if (import.meta.main) await runCommand('lessons:html', main)
