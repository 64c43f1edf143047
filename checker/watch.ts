// `npm run check -- --watch`: checks again whenever a file of the engine changes. It polls, because file events do
// not cross a VM's shared folders (and a learner may edit on either side).
import fs from 'node:fs'
import path from 'node:path'

/** Every file below `dir` (node_modules aside) with its modification time. */
export function engineFiles(dir: string): Map<string, number> {
  const out = new Map<string, number>()
  const walk = (d: string): void => {
    let entries: fs.Dirent[] = []
    try {
      entries = fs.readdirSync(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const full = path.join(d, e.name)
      if (e.isDirectory() && e.name !== 'node_modules') walk(full)
      else if (e.isFile()) out.set(full, fs.statSync(full, { throwIfNoEntry: false })?.mtimeMs ?? 0)
    }
  }
  walk(dir)
  return out
}

/** Resolves once a file of `dir` is added, removed or changed (checked every `intervalMs`). */
export async function nextChange(dir: string, intervalMs = 1000): Promise<void> {
  const last = engineFiles(dir)
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
    const now = engineFiles(dir)
    if (now.size !== last.size || [...now].some(([file, mtime]) => last.get(file) !== mtime)) return
  }
}

/** Runs `round`, then again after each change, until the process is stopped (Ctrl-C). */
export async function watch(dir: string, round: () => Promise<unknown>, waiting: () => void): Promise<never> {
  for (;;) {
    if (process.stdout.isTTY) process.stdout.write('\u001bc')
    await round()
    waiting()
    await nextChange(dir)
  }
}
