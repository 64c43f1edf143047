// Step 06: overlayfs. The rootfs becomes a read-only image that every container shares; each
// container gets a layer of its own, and the overlay of the two is its root: reads fall through to
// the image, writes land in the layer, and the image never changes. Where the layers live and how
// they are swept is lib/layers.ts: this file is about the overlay.
import fs from 'node:fs'
import path from 'node:path'
import { mount } from '../../lib/libc.ts'
import type { Layer } from '../../lib/init/protocol.ts'
import { newLayerFolder, removeLayerFolder, removeStaleLayers } from '../../lib/layers.ts'

/** Host side, before init exists: the container's layer on top of `image`, empty. */
export function createLayer(image: string): Layer {
  removeStaleLayers() // the layers of engines killed with SIGKILL
  const dir = newLayerFolder()
  const layer: Layer = { image, upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), merged: path.join(dir, 'merged') }
  for (const folder of [layer.upper, layer.work, layer.merged]) fs.mkdirSync(folder, { recursive: true, mode: 0o700 })
  fs.chmodSync(layer.upper, fs.statSync(image).mode & 0o7777)
  return layer
}

/**
 * Container side, in init's own mount namespace (so the kernel unmounts it when the container's
 * last process is gone): the overlay of the image and the layer, on layer.merged.
 */
export function mountOverlay(layer: Layer): void {
  // TODO(09.4): From this step the read-only part is several folders: layer.lowerDirs, an image's
  //   layers bottom first, as its manifest lists them (for --rootfs, the one rootfs). Give overlayfs
  //   all of them as its lower layers, in the order it reads them, each escaped as before. Why: a
  //   layer holds only what its build step changed, deletions included (as whiteouts); only when
  //   every upper layer is looked at before the ones below does the overlay show the image.
  //   Lesson: "5. Layers as lower layers". See overlayfs.rst, "Multiple lower layers".
  const options = `lowerdir=${overlayPath(layer.image)},upperdir=${overlayPath(layer.upper)},workdir=${overlayPath(layer.work)}`
  mount('overlay', layer.merged, 'overlay', 0, options) // one lower layer (step 06's), until this TODO
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
  removeLayerFolder(path.dirname(layer.upper))
}
