// Docker-style progress for a pull: one row per layer, redrawn in place on a terminal,
//
//   43c4264eed91: Downloading [=================>                                 ]  1.3 MB/3.6 MB
//   9fe1d1a5fa0b: Pull complete
//
// and, when stderr is a file or a pipe (CI, logs, the checker), one plain line per change of state instead of
// bars: `43c4264eed91: Downloading (3.6 MB)`, `43c4264eed91: Pull complete`.
export interface ProgressRow {
  /** A new state: "Waiting", "Verifying", "Extracting", "Already exists"... */
  status(text: string): void
  /** Bytes so far of `total` (undefined when the registry did not say). */
  bytes(done: number, total: number | undefined, label?: string): void
}

export function formatSize(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`
  return `${bytes} B`
}

interface Row {
  id: string
  text: string
}

export class PullProgress {
  private readonly out: NodeJS.WriteStream
  private readonly tty: boolean
  private readonly rows: Row[] = []
  private drawn = 0
  private lastDraw = 0
  private timer: NodeJS.Timeout | undefined
  private readonly quiet: boolean

  constructor(options: { out?: NodeJS.WriteStream; quiet?: boolean } = {}) {
    this.out = options.out ?? process.stderr
    this.tty = !!this.out.isTTY && process.env.TERM !== 'dumb'
    this.quiet = !!options.quiet
  }

  /** A line below everything so far: on a terminal the rows drawn until now stay as they are, finished. */
  say(text: string): void {
    if (this.quiet) return
    if (this.tty && this.rows.length) {
      clearTimeout(this.timer)
      this.timer = undefined
      this.draw(true)
      this.rows.length = 0
      this.drawn = 0
    }
    this.out.write(text + '\n')
  }

  row(id: string, initial: string): ProgressRow {
    const row: Row = { id, text: initial }
    this.rows.push(row)
    this.plain(row)
    this.schedule(true)
    let lastPlainLabel = ''
    return {
      status: (text) => {
        if (row.text === text) return
        row.text = text
        this.plain(row)
        this.schedule(true)
      },
      bytes: (done, total, label = 'Downloading') => {
        row.text = this.tty ? `${label} ${bar(done, total, this.barWidth())}` : label
        if (!this.tty && label !== lastPlainLabel) {
          lastPlainLabel = label
          if (!this.quiet) this.out.write(`${id}: ${label}${total ? ` (${formatSize(total)})` : ''}\n`)
        }
        this.schedule(false)
      },
    }
  }

  /** Draws the final state (call once, when the pull is over or failed). */
  end(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.tty && this.rows.length) this.draw(true)
  }

  private plain(row: Row): void {
    if (!this.tty && !this.quiet) this.out.write(`${row.id}: ${row.text}\n`)
  }

  private barWidth(): number {
    const columns = this.out.columns || 80
    return Math.max(10, Math.min(50, columns - 50))
  }

  /** Redraws at most 10 times a second (a state change is drawn at once). */
  private schedule(now: boolean): void {
    if (!this.tty || this.quiet) return
    if (now || Date.now() - this.lastDraw > 100) {
      this.draw(true)
      return
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined
      this.draw(true)
    }, 100)
  }

  private erase(): void {
    if (this.drawn) this.out.write(`\x1b[${this.drawn}A`)
    this.out.write('\x1b[0J')
    this.drawn = 0
  }

  private draw(force: boolean): void {
    if (!this.tty || this.quiet || !force) return
    this.erase()
    const columns = this.out.columns || 80
    for (const row of this.rows) this.out.write(`${row.id}: ${row.text}`.slice(0, columns - 1) + '\n')
    this.drawn = this.rows.length
    this.lastDraw = Date.now()
  }
}

function bar(done: number, total: number | undefined, width: number): string {
  if (!total) return formatSize(done)
  const filled = Math.min(width, Math.floor((done / total) * width))
  const arrow = filled < width ? '>' : ''
  const inside = '='.repeat(Math.max(0, filled - (arrow ? 1 : 0))) + arrow
  return `[${inside}${' '.repeat(Math.max(0, width - inside.length))}] ${formatSize(done).padStart(8)}/${formatSize(total)}`
}
