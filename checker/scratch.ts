// Throw-away folders the checks make on the host (a token outside the rootfs, a copy of the image, a
// volume, a tiny rootfs): made in one place, always removed, and never removed THROUGH a mount. A broken
// engine may leave a mount inside one (its /dev, its proc): such a folder waits until the host's mounts
// were repaired (removeAllScratch, after the session's clean-up), so `rm -r` never walks into a mount.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { mountsOf } from './proc.ts'

const scratch = new Set<string>()

/** A new empty folder under the temp folder (root's only), removed at the latest when the session ends. */
export function scratchDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mc-${prefix}-`))
  fs.chmodSync(dir, 0o700)
  scratch.add(dir)
  return dir
}

/** Mount points at or under `dir` in the checker's (the host's) mount table. */
export function mountsUnder(dir: string): string[] {
  return (mountsOf('self') ?? []).map((m) => m.mountPoint).filter((p) => p === dir || p.startsWith(dir + '/'))
}

/** Removes it now if nothing is mounted under it; else it stays until removeAllScratch(). */
export function removeScratch(dir: string): void {
  if (mountsUnder(dir).length) return
  fs.rmSync(dir, { recursive: true, force: true })
  scratch.delete(dir)
}

/**
 * Removes every scratch folder, after the session repaired the host's mounts (a mount still under one is
 * unmounted first, lazily: whatever leaked there was already reported).
 */
export function removeAllScratch(): void {
  for (const dir of scratch) {
    for (const point of mountsUnder(dir).sort((a, b) => b.length - a.length)) {
      try {
        execFileSync('umount', ['-l', point], { stdio: 'ignore' })
      } catch {
        // gone with its parent
      }
    }
    try {
      fs.rmSync(dir, { recursive: true, force: true })
      scratch.delete(dir)
    } catch {
      // a mount that would not go: leave the folder rather than walk into it
    }
  }
}
