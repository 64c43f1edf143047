// @file-since 06-overlayfs
// Step 06: overlayfs. The rootfs becomes a read-only image that every container shares; each
// container gets a layer of its own, and the overlay of the two is its root: reads fall through to
// the image, writes land in the layer, and the image never changes.
//
//   $MINICONTAINER_HOME/containers/mc-<engine pid>-<random>/     one folder per running container
//     upper/    the container's changes: new and modified files, whiteouts for deleted ones
//     work/     overlayfs' scratch space for atomic copy-up (on the same filesystem as upper)
//     merged/   where init mounts the overlay, inside the container's own mount namespace
import fs from 'node:fs'
import path from 'node:path'
import { FriendlyError } from '../../lib/errors.ts'
import {
  mount,
  // @todo 06-overlayfs
  // @starter
  MS_BIND, // the starter's step-05 root, until TODO(06.2) replaces it
  // @end
} from '../../lib/libc.ts'
import type { Layer } from '../../lib/process.ts'
import { minicontainerHome } from '../../lib/rootfs/location.ts'

/** Where the layers of running containers live. */
export function layersRoot(): string {
  return path.join(minicontainerHome(), 'containers')
}

/** A name no other container uses: the engine's PID is unique while it runs, the rest tells runs apart. */
function newLayerName(): string {
  return `mc-${process.pid}-${Math.random().toString(16).slice(2, 8).padEnd(6, '0')}`
}

/** Host side, before init exists: the container's layer on top of `image`, empty. */
export function createLayer(image: string): Layer {
  removeStaleLayers()
  const dir = path.join(layersRoot(), newLayerName())
  const layer: Layer = { image, upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), merged: path.join(dir, 'merged') }
  // @todo 06-overlayfs
  // TODO(06.1): Create the layer's folders (upper, work, merged), root's only (other users have no
  //   business in a container's files). Why here: upper and work must be on the same filesystem
  //   (the kernel moves copied-up files from work to upper in one rename), not inside the image, and
  //   on one that can hold an upper layer (not an overlay itself).
  //   Lesson: "2. A layer of its own". See man 2 mkdir.
  // @starter
  fs.mkdirSync(layer.merged, { recursive: true }) // only a mount point for step 05's root, until this TODO
  // @solution
  for (const folder of [layer.upper, layer.work, layer.merged]) fs.mkdirSync(folder, { recursive: true, mode: 0o700 })
  // @end
  return layer
}

/**
 * Container side, in init's own mount namespace (so the kernel unmounts it when the container's
 * last process is gone): the overlay of the image and the layer, on layer.merged.
 */
export function mountOverlay(layer: Layer): void {
  // @todo 06-overlayfs
  // TODO(06.2): Mount the overlay on layer.merged: the image as its read-only lower layer, the
  //   container's upper and work folders on top. The filesystem takes its layers as one options
  //   string; a path holding a comma or a colon must be escaped (overlayPath below does that).
  //   Lesson: "3. Mount the overlay". See the kernel's Documentation/filesystems/overlayfs.rst.
  // @starter
  mount(layer.image, layer.merged, null, MS_BIND) // step 05's root: the image itself, writable, until this TODO
  // @solution
  const options = `lowerdir=${overlayPath(layer.image)},upperdir=${overlayPath(layer.upper)},workdir=${overlayPath(layer.work)}`
  mount('overlay', layer.merged, 'overlay', 0, options)
  // @end
}

/** overlayfs splits its options at commas and lowerdir at colons: a path holding one escapes it with "\". */
export function overlayPath(folder: string): string {
  return folder.replace(/[\\,:]/g, (c) => `\\${c}`)
}

/**
 * Host side, when the container is over. Its mount namespace is gone with its last process, and the
 * overlay with it: only the folders are left.
 */
export function removeLayer(layer: Layer): void {
  // @todo 06-overlayfs
  // TODO(06.3): Remove the container's layer: the folder that holds upper, work and merged, all of
  //   it (the container's writes go with it). Not the image! removeLayerFolder refuses anything but
  //   a layer's folder, and waits while the kernel still tears the container's mounts down.
  //   Lesson: "5. When the container is over". See man 2 umount (when a mount goes away).
  // @solution
  removeLayerFolder(path.dirname(layer.upper))
  // @end
}

// ---- Helpers given to the learner ---------------------------------------------------------------

/**
 * Removes one layer's folder, whatever is in it (the workdir holds a root-only work/ folder). Refuses
 * anything but a folder directly under layersRoot(), and never descends into a mount. A merged/ folder
 * that is still a mount point in some namespace is busy (EBUSY): retried for two seconds, then left for
 * the next start's sweep (removeStaleLayers), with a warning.
 */
export function removeLayerFolder(dir: string): void {
  const full = path.resolve(dir)
  if (path.dirname(full) !== path.resolve(layersRoot()) || !/^mc-\d+-[0-9a-f]+$/.test(path.basename(full))) {
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

/** Mount points at or under `dir` in this process's mount table. */
function mountsUnder(dir: string): string[] {
  const table = fs.readFileSync('/proc/self/mountinfo', 'utf8')
  return table.split('\n').map((line) => line.split(' ')[4] ?? '')
    .map((field) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => point === dir || point.startsWith(dir + '/'))
}

/**
 * An engine killed with SIGKILL cannot remove its layer (its container died with it: PDEATHSIG).
 * Remove the layers of engines that no longer run (the engine's PID is part of the name).
 */
function removeStaleLayers(): void {
  let names: string[]
  try {
    names = fs.readdirSync(layersRoot())
  } catch {
    return
  }
  for (const name of names) {
    const pid = /^mc-(\d+)-[0-9a-f]+$/.exec(name)?.[1]
    if (!pid || fs.existsSync(`/proc/${pid}`)) continue
    try {
      removeLayerFolder(path.join(layersRoot(), name))
    } catch {
      // still mounted somewhere, or busy: the next start tries again
    }
  }
}
