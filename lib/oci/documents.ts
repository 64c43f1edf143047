// The OCI image documents (https://github.com/opencontainers/image-spec), Docker's equivalents read the same way:
//
//   index (or Docker manifest list)  one manifest per platform: { manifests: [{ digest, platform: { os, architecture } }] }
//   manifest                         one image: { config: descriptor, layers: [descriptor, ...] } (bottom layer first)
//   config                           how to run it (Env, Entrypoint, Cmd, WorkingDir, User) and rootfs.diff_ids
//
// A descriptor points at a blob: { mediaType, digest: "sha256:...", size }. Nothing is trusted until its sha256 is.
import os from 'node:os'
import { FriendlyError } from '../errors.ts'
import { formatReference, parseReference } from './reference.ts'
import { ImageStore, type ImageRecord } from './store.ts'

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: Platform
  urls?: string[]
}

export interface Platform {
  os: string
  architecture: string
  variant?: string
}

/** An OCI image index or a Docker manifest list: one manifest per platform. */
export interface ImageIndex {
  schemaVersion: number
  mediaType?: string
  manifests: Descriptor[]
}

/** One image: its config and its layers, bottom first. */
export interface ImageManifest {
  schemaVersion: number
  mediaType?: string
  config: Descriptor
  layers: Descriptor[]
}

/** The parts of the image config (OCI image-spec config.md) a runtime uses. */
export interface ImageConfig {
  architecture?: string
  os?: string
  variant?: string
  config?: {
    Env?: string[] | null
    Entrypoint?: string[] | null
    Cmd?: string[] | null
    WorkingDir?: string
    User?: string
  }
  rootfs?: { type: string; diff_ids: string[] }
}

/** This machine's platform, in the OCI image-spec's words (Go's GOARCH names). */
export function machinePlatform(): Platform {
  const architecture = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[os.arch()]
  if (!architecture) throw new FriendlyError(`no images for this machine's architecture (${os.arch()})`, { hint: 'minicontainer pulls linux/amd64 and linux/arm64 images' })
  return { os: 'linux', architecture }
}


export function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T
  } catch {
    throw new FriendlyError(`${what} is not valid JSON`)
  }
}

/** The pulled image of a reference, complete in the store, or a FriendlyError saying how to get it. */
export function findImage(text: string, store = new ImageStore()): { record: ImageRecord; config: ImageConfig } {
  const name = formatReference(parseReference(text))
  const record = store.readImage(name)
  if (!record || !store.isComplete(record)) {
    throw new FriendlyError(`no such image here: ${name}${record ? ' (its layers are incomplete)' : ''}`, { hint: `pull it first: main.ts pull ${text}` })
  }
  return { record, config: parseJson<ImageConfig>(store.readBlob(record.config), `config ${record.config}`) }
}
