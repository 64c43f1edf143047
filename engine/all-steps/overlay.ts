// @file-since 06-overlayfs
// Step 06: overlayfs. The rootfs becomes a read-only image that every container shares; each
// container gets a layer of its own, and the overlay of the two is its root: reads fall through to
// the image, writes land in the layer, and the image never changes. Where the layers live and how
// they are swept is lib/layers.ts: this file is about the overlay.
import fs from 'node:fs'
import path from 'node:path'
// @imports 06-overlayfs
// @starter
// // What the given code uses (the starter's step-05 root, until TODO(06.2) replaces it).
// import { MS_BIND, mount } from '../../lib/libc.ts'
// @solution
import { mount } from '../../lib/libc.ts'
// @end
import type { Layer } from '../../lib/init/protocol.ts'
import { newLayerFolder, removeLayerFolder, removeStaleLayers } from '../../lib/layers.ts'

/** Host side, before init exists: the container's layer on top of `image`, empty. */
export function createLayer(image: string): Layer {
  removeStaleLayers() // the layers of engines killed with SIGKILL
  const dir = newLayerFolder()
  const layer: Layer = { image, upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), merged: path.join(dir, 'merged') }
  // @todo 06-overlayfs
  // TODO(06.1): Create the layer's folders (upper, work, merged) in the container's folder. Why here:
  //   upper and work must be on the same filesystem (the kernel moves copied-up files from work to upper
  //   in one rename), not inside the image, and on one that can hold an upper layer (not an overlay itself).
  //   Decide their modes: the overlay's root directory takes its owner and mode from upper, so the
  //   container's `/` is what upper is; the image's `/` lets every user in, and the container's non-root
  //   users need that too. The host's other users stay out by the folders above (layersRoot() is root's).
  //   Lesson: "2. A layer of its own". See man 2 mkdir, man 2 chmod (mkdir's mode passes through the umask).
  // @starter
  // fs.mkdirSync(layer.merged, { recursive: true }) // only a mount point for step 05's root, until this TODO
  // @solution
  for (const folder of [layer.upper, layer.work, layer.merged]) fs.mkdirSync(folder, { recursive: true, mode: 0o700 })
  fs.chmodSync(layer.upper, fs.statSync(image).mode & 0o7777)
  // @end
  return layer
}

/**
 * Container side, in init's own mount namespace (so the kernel unmounts it when the container's
 * last process is gone): the overlay of the image and the layer, on layer.merged.
 */
export function mountOverlay(layer: Layer): void {
  // @todo 06-overlayfs until 09-images
  // TODO(06.2): Mount the overlay on layer.merged: the image as its read-only lower layer, the
  //   container's upper and work folders on top. The filesystem takes its layers as one options
  //   string; a path holding a comma or a colon must be escaped (overlayPath below does that).
  //   Lesson: "3. Mount the overlay". See the kernel's Documentation/filesystems/overlayfs.rst.
  // @starter
  // mount(layer.image, layer.merged, null, MS_BIND) // step 05's root: the image itself, writable, until this TODO
  // @solution
  // const options = `lowerdir=${overlayPath(layer.image)},upperdir=${overlayPath(layer.upper)},workdir=${overlayPath(layer.work)}`
  // mount('overlay', layer.merged, 'overlay', 0, options)
  // @end
  // @todo 09-images
  // TODO(09.4): From this step the read-only part is several folders: layer.lowerDirs, an image's
  //   layers bottom first, as its manifest lists them (for --rootfs, the one rootfs). Give overlayfs
  //   all of them as its lower layers, in the order it reads them, each escaped as before. Why: a
  //   layer holds only what its build step changed, deletions included (as whiteouts); only when
  //   every upper layer is looked at before the ones below does the overlay show the image.
  //   Lesson: "5. Layers as lower layers". See overlayfs.rst, "Multiple lower layers".
  // @starter
  // const options = `lowerdir=${overlayPath(layer.image)},upperdir=${overlayPath(layer.upper)},workdir=${overlayPath(layer.work)}`
  // mount('overlay', layer.merged, 'overlay', 0, options) // one lower layer (step 06's), until this TODO
  // @solution
  const lower = [...layer.lowerDirs!].reverse().map(overlayPath).join(':')
  const options = `lowerdir=${lower},upperdir=${overlayPath(layer.upper)},workdir=${overlayPath(layer.work)}`
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
  //   it (the container's writes go with it). Not the image! removeLayerFolder (lib/layers.ts)
  //   refuses anything but a layer's folder and never walks into a mount.
  //   Lesson: "5. When the container is over". See man 2 umount (when a mount goes away).
  // @solution
  removeLayerFolder(path.dirname(layer.upper))
  // @end
}
