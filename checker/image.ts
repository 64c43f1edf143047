// The image as the checker sees it from the host: a throw-away copy to run containers on (a broken engine may
// write into its image, and the installed rootfs is shared by every run), and a fingerprint of a whole tree,
// byte for byte and inode for inode, to prove that nothing in it changed.
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

/** `cp -a`: the same files, modes, owners, times and links, in a new place. */
export function copyTree(from: string, to: string): void {
  execFileSync('cp', ['-a', '--', from, to], { stdio: ['ignore', 'ignore', 'pipe'] })
}

export interface TreePrint {
  /** sha256 over every entry, in a fixed order. */
  digest: string
  files: number
  /** path -> what was seen (type, mode, owner, size, times, link count, content hash or link target). */
  entries: Map<string, string>
}

/**
 * Every entry of the tree: type, mode, owner, size, modification and change times (ns), link count, and the
 * content's sha256 (regular files) or target (links). ctime changes with any change to an inode (content, mode,
 * owner, links) and cannot be set back by anyone: an unchanged ctime means an untouched file.
 */
export function fingerprint(root: string): TreePrint {
  const entries = new Map<string, string>()
  const walk = (rel: string): void => {
    const full = path.join(root, rel)
    const s = fs.lstatSync(full, { bigint: true })
    const type = s.isDirectory() ? 'd' : s.isFile() ? 'f' : s.isSymbolicLink() ? 'l' : s.isCharacterDevice() ? 'c' : s.isBlockDevice() ? 'b' : s.isFIFO() ? 'p' : 's'
    const what = s.isFile() ? createHash('sha256').update(fs.readFileSync(full)).digest('hex') : s.isSymbolicLink() ? fs.readlinkSync(full) : type === 'c' || type === 'b' ? String(s.rdev) : ''
    entries.set(rel || '.', [type, s.mode.toString(8), `${s.uid}:${s.gid}`, s.size, s.mtimeNs, s.ctimeNs, s.nlink, what].join(' '))
    if (s.isDirectory()) for (const name of fs.readdirSync(full).sort()) walk(path.join(rel, name))
  }
  walk('')
  const hash = createHash('sha256')
  for (const [rel, line] of entries) hash.update(`${rel}\0${line}\n`)
  return { digest: hash.digest('hex'), files: entries.size, entries }
}

/** What differs between two prints, for a failure message: "etc/x (changed: mode ...)", at most `max`. */
export function treeDifferences(before: TreePrint, after: TreePrint, max = 6): string[] {
  const out: string[] = []
  for (const [rel, line] of before.entries) {
    const now = after.entries.get(rel)
    if (now === undefined) out.push(`${rel} deleted`)
    else if (now !== line) out.push(`${rel} changed (${describeChange(line, now)})`)
  }
  for (const rel of after.entries.keys()) if (!before.entries.has(rel)) out.push(`${rel} created`)
  return out.length > max ? [...out.slice(0, max), `... ${out.length - max} more`] : out
}

const FIELDS = ['type', 'mode', 'owner', 'size', 'mtime', 'ctime', 'links', 'content']

function describeChange(a: string, b: string): string {
  const x = a.split(' ')
  const y = b.split(' ')
  return FIELDS.filter((_, i) => x[i] !== y[i]).join(', ')
}

/** An overlay mount's layers, from its line in a mountinfo (the kernel shows the options it was given). */
export interface OverlayLayers {
  lower: string[]
  upper: string | undefined
  work: string | undefined
}

export function overlayLayers(superOptions: string): OverlayLayers {
  // Options are split at unescaped commas, lowerdir at unescaped colons; mountinfo octal-escapes spaces.
  const unescape = (text: string) => text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))).replace(/\\(.)/g, '$1')
  const options = new Map<string, string>()
  for (const option of superOptions.split(/(?<!\\),/)) {
    const eq = option.indexOf('=')
    if (eq > 0) options.set(option.slice(0, eq), option.slice(eq + 1))
  }
  const lower = options.get('lowerdir')
  return {
    lower: lower === undefined ? [] : lower.split(/(?<!\\):/).map(unescape),
    upper: options.has('upperdir') ? unescape(options.get('upperdir')!) : undefined,
    work: options.has('workdir') ? unescape(options.get('workdir')!) : undefined,
  }
}
