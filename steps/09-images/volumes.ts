// Step 06: volumes (docker's -v). A host folder bind-mounted into the container: the same files,
// seen at a second place. Its writes go to the host, not to the container's layer, and outlive it.
import fs from 'node:fs'
import path from 'node:path'
import type { Volume } from '../../lib/cli.ts'
import { FriendlyError } from '../../lib/errors.ts'
import { MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REMOUNT, mount } from '../../lib/libc.ts'

/**
 * Container side, after the overlay and before pivot_root: the host folders are still reachable
 * by their host paths, and `rootfs` is the container's future "/".
 */
export function mountVolumes(rootfs: string, volumes: Volume[]): void {
  for (const volume of volumes) {
    const target = mountPointInside(rootfs, volume.container)
    mount(volume.host, target, null, MS_BIND)
    if (volume.readOnly) mount(null, target, null, MS_REMOUNT | MS_BIND | MS_RDONLY | perMountFlags(target))
  }
}

// ---- Helpers given to the learner ---------------------------------------------------------------

/**
 * `rootfs` + `inside`, with the folders on the way created (in the container's layer, not in the image).
 * A symbolic link on the way is refused: resolved now, before pivot_root, it would point into the HOST's
 * tree (an image could aim a volume at the host's /etc: runc's CVE-2021-30465 was a race on this).
 */
export function mountPointInside(rootfs: string, inside: string): string {
  let current = rootfs
  for (const part of inside.split('/').filter(Boolean)) {
    current = path.join(current, part)
    const stat = fs.lstatSync(current, { throwIfNoEntry: false })
    if (!stat) fs.mkdirSync(current, { mode: 0o755 })
    else if (stat.isSymbolicLink()) throw new FriendlyError(`volume target ${inside}: ${path.relative(rootfs, current)} is a symbolic link in the image`, { hint: 'give the real path inside the container' })
    else if (!stat.isDirectory()) throw new FriendlyError(`volume target ${inside}: ${path.relative(rootfs, current)} is not a folder in the image`)
  }
  return current
}

/**
 * MS_NOSUID, MS_NODEV, MS_NOEXEC as the mount at `target` has them now (a new bind mount takes its
 * source's), from /proc/self/mountinfo: a remount must repeat them or it clears them.
 */
export function perMountFlags(target: string): number {
  const FLAGS: Record<string, number> = { nosuid: MS_NOSUID, nodev: MS_NODEV, noexec: MS_NOEXEC }
  const unescape = (text: string) => text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
  const lines = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((line) => unescape(line.split(' ')[4] ?? '') === target)
  const options = lines.at(-1)?.split(' ')[5]?.split(',') ?? [] // the topmost mount there
  return options.reduce((flags, option) => flags | (FLAGS[option] ?? 0), 0)
}
