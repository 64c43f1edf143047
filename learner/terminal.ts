// Markdown -> text for an 80-column terminal: the lessons as `npm run lesson 3` shows them.
// A small renderer of our own over marked's tokens (headings, paragraphs, lists, code, tables,
// quotes), coloured with kleur. Colours switch off by themselves when the output is not a
// terminal, or with NO_COLOR=1.
import kleur from 'kleur'
import { marked, type Token, type Tokens } from 'marked'

export const DEFAULT_WIDTH = 80

const ANSI = /\x1b\[[0-9;]*m/g

/** The text without colour codes. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '')
}

/** Columns a string takes on screen (colour codes take none). */
export function visibleWidth(text: string): number {
  return [...stripAnsi(text)].length
}

/** Renders a whole Markdown document. */
export function renderMarkdown(markdown: string, width = DEFAULT_WIDTH): string {
  const tokens = marked.lexer(markdown)
  const blocks = renderBlocks(tokens, width)
  return blocks.join('\n\n').replace(/\n{3,}/g, '\n\n') + '\n'
}

function renderBlocks(tokens: Token[], width: number): string[] {
  const out: string[] = []
  for (const token of tokens) {
    const block = renderBlock(token, width)
    if (block !== undefined && block !== '') out.push(block)
  }
  return out
}

function renderBlock(token: Token, width: number): string | undefined {
  switch (token.type) {
    case 'heading': {
      const t = token as Tokens.Heading
      const text = inline(t.tokens)
      if (t.depth === 1) {
        const plain = stripAnsi(text)
        return kleur.bold().magenta(plain) + '\n' + kleur.magenta('═'.repeat(Math.min(visibleWidth(plain), width)))
      }
      if (t.depth === 2) {
        const plain = stripAnsi(text)
        return kleur.bold().cyan(plain) + '\n' + kleur.cyan('─'.repeat(Math.min(visibleWidth(plain), width)))
      }
      return kleur.bold().underline(stripAnsi(text))
    }
    case 'paragraph':
      return wrap(inline((token as Tokens.Paragraph).tokens), width)
    case 'text': {
      const t = token as Tokens.Text
      return wrap(t.tokens ? inline(t.tokens) : t.text, width)
    }
    case 'code':
      return renderCode(token as Tokens.Code)
    case 'list':
      return renderList(token as Tokens.List, width)
    case 'table':
      return renderTable(token as Tokens.Table, width)
    case 'blockquote': {
      const inner = renderBlocks((token as Tokens.Blockquote).tokens, width - 2).join('\n\n')
      return inner.split('\n').map((line) => kleur.gray('│ ') + line).join('\n')
    }
    case 'hr':
      return kleur.gray('─'.repeat(width))
    case 'space':
    case 'def':
      return undefined
    case 'html':
      return wrap(stripTags((token as Tokens.HTML).text), width)
    default:
      return 'raw' in token ? wrap(String(token.raw).trim(), width) : undefined
  }
}

/** Code is never wrapped (it would stop being correct): indented, in one colour. */
function renderCode(t: Tokens.Code): string {
  const lines = t.text.replace(/\n+$/, '').split('\n')
  return lines.map((line) => '  ' + kleur.yellow(line)).join('\n')
}

function renderList(t: Tokens.List, width: number): string {
  const start = typeof t.start === 'number' ? t.start : 1
  const items = t.items.map((item, i) => {
    const bullet = t.ordered ? `${start + i}. ` : item.task ? (item.checked ? '[x] ' : '[ ] ') : '• '
    const indent = ' '.repeat(visibleWidth(bullet))
    const body = renderBlocks(item.tokens, width - indent.length).join(t.loose ? '\n\n' : '\n')
    const lines = body.split('\n')
    return lines.map((line, n) => (n === 0 ? kleur.cyan(bullet) : line ? indent : '') + line).join('\n')
  })
  return items.join(t.loose ? '\n\n' : '\n')
}

/**
 * A table as columns when it fits in `width`, otherwise one record per row
 * ("Header: value" lines), which stays readable however long the cells are.
 */
function renderTable(t: Tokens.Table, width: number): string {
  const header = t.header.map((cell) => inline(cell.tokens))
  const rows = t.rows.map((row) => row.map((cell) => inline(cell.tokens)))
  const widths = header.map((h, c) => Math.max(visibleWidth(h), ...rows.map((r) => visibleWidth(r[c] ?? ''))))
  const total = widths.reduce((a, b) => a + b, 0) + 3 * (widths.length - 1)
  if (total <= width) {
    const line = (cells: string[]) => cells.map((cell, c) => pad(cell, widths[c]!)).join(kleur.gray(' │ ')).trimEnd()
    return [
      line(header.map((h) => kleur.bold(stripAnsi(h)))),
      kleur.gray(widths.map((w) => '─'.repeat(w)).join('─┼─')),
      ...rows.map(line),
    ].join('\n')
  }
  const label = Math.min(Math.max(...header.map(visibleWidth)), 24)
  return rows.map((row) => row.map((cell, c) => {
    const name = stripAnsi(header[c] ?? '')
    const first = kleur.bold(name) + ': '
    const indent = ' '.repeat(Math.min(label, visibleWidth(name)) + 2)
    return wrap(first + cell, width, '', indent)
  }).join('\n')).join('\n' + kleur.gray('┄'.repeat(Math.min(width, 40))) + '\n')
}

function pad(text: string, to: number): string {
  return text + ' '.repeat(Math.max(0, to - visibleWidth(text)))
}

/** Inline tokens -> one styled line (wrapping happens later). */
export function inline(tokens: Token[] | undefined): string {
  if (!tokens) return ''
  return tokens.map((token) => {
    switch (token.type) {
      case 'strong':
        return kleur.bold(inline((token as Tokens.Strong).tokens))
      case 'em':
        return kleur.italic(inline((token as Tokens.Em).tokens))
      case 'codespan':
        // Without colours the backticks stay: they are what marks `ls /` as a command.
        return kleur.enabled ? kleur.green(decodeEntities((token as Tokens.Codespan).text)) : '`' + decodeEntities((token as Tokens.Codespan).text) + '`'
      case 'del':
        return kleur.strikethrough(inline((token as Tokens.Del).tokens))
      case 'link': {
        const t = token as Tokens.Link
        const text = inline(t.tokens)
        return stripAnsi(text) === t.href || t.href.startsWith('#') ? kleur.underline(text) : `${kleur.underline(text)} ${kleur.gray(`(${t.href})`)}`
      }
      case 'image':
        return `[image: ${(token as Tokens.Image).text}]`
      case 'br':
        return '\n'
      case 'html':
        return stripTags((token as Tokens.HTML).text)
      case 'text':
      case 'escape': {
        const t = token as Tokens.Text
        return t.tokens ? inline(t.tokens) : decodeEntities(t.text)
      }
      default:
        return 'text' in token ? decodeEntities(String(token.text)) : ''
    }
  }).join('')
}

function stripTags(html: string): string {
  return decodeEntities(html.replace(/<[^>]*>/g, '')).trim()
}

function decodeEntities(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&')
}

/**
 * Word-wraps styled text to `width` columns. Words longer than a line (a long path) stay whole
 * on a line of their own: cutting them would be worse than overflowing.
 */
export function wrap(text: string, width: number, firstIndent = '', indent = firstIndent): string {
  const out: string[] = []
  for (const paragraphLine of text.split('\n')) {
    const words = paragraphLine.split(/ +/).filter((w) => w !== '')
    let line = firstIndent
    let lineWidth = visibleWidth(firstIndent)
    let empty = true
    for (const word of words) {
      const w = visibleWidth(word)
      if (!empty && lineWidth + 1 + w > width) {
        out.push(line)
        line = indent
        lineWidth = visibleWidth(indent)
        empty = true
      }
      line += (empty ? '' : ' ') + word
      lineWidth += (empty ? 0 : 1) + w
      empty = false
    }
    out.push(line)
    firstIndent = indent
  }
  return out.join('\n')
}
