// A small unified diff (the `diff -u` format), so `npm run solution` needs neither git nor diff.
import kleur from 'kleur'

type Op = { kind: ' ' | '-' | '+'; text: string; a: number; b: number }

/** The edit script between two line arrays: longest common subsequence, fine for source files. */
function editScript(a: string[], b: string[]): Op[] {
  const n = a.length
  const m = b.length
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1))
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!)
    }
  }
  const ops: Op[] = []
  let i = 0
  let j = 0
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ kind: ' ', text: a[i]!, a: i++, b: j++ })
    else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ kind: '-', text: a[i]!, a: i++, b: j })
    else ops.push({ kind: '+', text: b[j]!, a: i, b: j++ })
  }
  return ops
}

/** `diff -u` of two texts; '' when they are equal. */
export function unifiedDiff(
  oldText: string | undefined,
  newText: string | undefined,
  oldName: string,
  newName: string,
  context = 3,
  color = false,
): string {
  const split = (t: string | undefined) => (t === undefined || t === '' ? [] : t.replace(/\n$/, '').split('\n'))
  const a = split(oldText)
  const b = split(newText)
  const ops = editScript(a, b)
  if (ops.every((op) => op.kind === ' ')) return ''
  const paint = (kind: Op['kind'], line: string) => !color ? line : kind === '-' ? kleur.red(line) : kind === '+' ? kleur.green(line) : line
  const out = [
    paint('-', `--- ${oldText === undefined ? '/dev/null' : oldName}`),
    paint('+', `+++ ${newText === undefined ? '/dev/null' : newName}`),
  ]
  let k = 0
  while (k < ops.length) {
    while (k < ops.length && ops[k]!.kind === ' ') k++
    if (k >= ops.length) break
    let start = Math.max(0, k - context)
    let end = k
    // Extend the hunk while the next change is within 2 * context lines.
    for (;;) {
      while (end < ops.length && ops[end]!.kind !== ' ') end++
      let next = end
      while (next < ops.length && ops[next]!.kind === ' ') next++
      if (next < ops.length && next - end <= 2 * context) end = next
      else break
    }
    end = Math.min(ops.length, end + context)
    const hunk = ops.slice(start, end)
    const aCount = hunk.filter((op) => op.kind !== '+').length
    const bCount = hunk.filter((op) => op.kind !== '-').length
    const aStart = aCount ? hunk.find((op) => op.kind !== '+')!.a + 1 : hunk[0]!.a
    const bStart = bCount ? hunk.find((op) => op.kind !== '-')!.b + 1 : hunk[0]!.b
    out.push(color ? kleur.cyan(`@@ -${aStart},${aCount} +${bStart},${bCount} @@`) : `@@ -${aStart},${aCount} +${bStart},${bCount} @@`)
    for (const op of hunk) out.push(paint(op.kind, op.kind + op.text))
    k = end
    start = end
  }
  return out.join('\n') + '\n'
}
