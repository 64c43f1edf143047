// The containers' layers' housekeeping (step 06), which every engine needs and no lesson is about: where the layer
// folders live, naming one, removing one without ever walking into a mount, and sweeping the layers of engines that
// were killed before they could clean up. The learner's overlay.ts (the overlay itself) uses it; the checker too.
//
//   $MINICONTAINER_HOME/containers/mc-<engine pid>-<random>/     one folder per running container
//     upper/    the container's changes: new and modified files, whiteouts for deleted ones
//     work/     overlayfs' scratch space for atomic copy-up (on the same filesystem as upper)
//     merged/   where init mounts the overlay, inside the container's own mount namespace
import fs from 'node:fs'
import path from 'node:path'
import { FriendlyError } from './errors.ts'
import { minicontainerHome } from './rootfs/location.ts'

/** A layer folder's name: the engine's PID (unique while it runs) and a random part to tell runs apart. */
export const LAYER_NAME = /^mc-(\d+)-[0-9a-f]+$/

/** Where the layers of running containers live. */
export function layersRoot(): string {
  return path.resolve(minicontainerHome(), 'containers')
}

/** Filesystems that cannot hold an overlay's upper layer (statfs f_type, linux/magic.h). */
const NO_UPPER_LAYER: Record<number, string> = { 0x794c7630: 'overlayfs', 0x6969: 'NFS', 0x65735546: 'a FUSE filesystem' }

/**
 * A new layer folder's path (not created): mc-<this engine's pid>-<random>. Fails early, with what to do, when the
 * layers' folder is on a filesystem that cannot hold an upper layer (the engine itself in a container: overlayfs).
 */
export function newLayerFolder(): string {
  fs.mkdirSync(layersRoot(), { recursive: true, mode: 0o700 })
  const cannot = NO_UPPER_LAYER[fs.statfsSync(layersRoot()).type]
  if (cannot) {
    throw new FriendlyError(`${layersRoot()} is on ${cannot}, which cannot hold a container's upper layer`, {
      hint: 'set MINICONTAINER_HOME to a folder on ext4, xfs, btrfs or tmpfs (and install the rootfs there, or give --rootfs)',
    })
  }
  return path.join(layersRoot(), `mc-${process.pid}-${Math.random().toString(16).slice(2, 8).padEnd(6, '0')}`)
}

/** Mount points at or under `dir` in this process's mount table. */
export function mountsUnder(dir: string): string[] {
  const unescape = (text: string) => text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((line) => unescape(line.split(' ')[4] ?? ''))
    .filter((point) => point === dir || point.startsWith(dir + '/'))
}

/**
 * Removes one layer folder, whatever is in it (the workdir holds a root-only work/ folder). Refuses anything but a
 * folder directly under layersRoot(), and never descends into a mount. A merged/ folder that is still a mount point in
 * some namespace is busy (EBUSY): retried for two seconds, then left for the next start's sweep, with a warning.
 */
export function removeLayerFolder(dir: string): void {
  const full = path.resolve(dir)
  if (path.dirname(full) !== layersRoot() || !LAYER_NAME.test(path.basename(full))) {
    throw new FriendlyError(`refusing to remove ${dir}: not a container's layer folder (${layersRoot()}/mc-...)`)
  }
  const mounted = mountsUnder(full)
  if (mounted.length) {
    throw new FriendlyError(`the layer ${full} still has mounts under it on the host: ${mounted.join(', ')}`, {
      hint: "mount the overlay in the container's own mount namespace (init does it), where the kernel removes it with the container",
    })
  }
  try {
    fs.rmSync(full, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error
    console.error(`minicontainer: the layer ${full} is still busy (a mount in another namespace?): the next start removes it`)
  }
}

/**
 * An engine killed with SIGKILL cannot remove its layer (its container died with it: PDEATHSIG). Removes the layers
 * of engines that no longer run (the engine's PID is part of the name).
 */
export function removeStaleLayers(): void {
  let names: string[]
  try {
    names = fs.readdirSync(layersRoot())
  } catch {
    return
  }
  for (const name of names) {
    const pid = LAYER_NAME.exec(name)?.[1]
    if (!pid || fs.existsSync(`/proc/${pid}`)) continue
    try {
      removeLayerFolder(path.join(layersRoot(), name))
    } catch {
      // still mounted somewhere, or busy: the next start tries again
    }
  }
}
