// The probe protocol, read from the engine's output: the probe prints `@mc key=value` facts and may pause after
// `@mc ready` (it then waits on `read`) while the checker looks at the live container from the host. Output is
// capped: a flood must neither fill the memory nor hide the `@mc ready` line.
const OUTPUT_CAP = 64 * 1024

export function parseFacts(stdout: string): Map<string, string> {
  const facts = new Map<string, string>()
  for (const line of stdout.split('\n')) {
    const m = /^@mc ([\w.-]+)=(.*)$/.exec(line.trimEnd())
    if (m) facts.set(m[1]!, m[2]!)
  }
  return facts
}

/** One stream of the engine's output, kept up to the cap, with a count of what was cut. */
export class CappedText {
  private text = ''
  private bytes = 0

  add(chunk: Buffer): string {
    this.bytes += chunk.length
    const piece = chunk.toString('utf8')
    if (this.text.length < OUTPUT_CAP) this.text += piece
    return piece
  }

  toString(): string {
    return this.bytes > OUTPUT_CAP ? `${this.text}\n[... ${this.bytes - OUTPUT_CAP} more bytes cut]` : this.text
  }
}

/** Watches stdout for the probe's pause line, however much came before it. */
export class ReadyDetector {
  private tail = '\n' // the end of everything printed, to see `@mc ready` even after a flood past the cap
  seen = false

  /** True the first time the pause line has arrived. */
  feed(piece: string): boolean {
    if (this.seen) return false
    this.tail = (this.tail + piece).slice(-4096)
    if (!/\n@mc ready\r?\n/.test(this.tail)) return false
    this.seen = true
    return true
  }
}
