// The image commands of the engine's command line (the engine's main dispatches to them):
//   main.ts pull [--insecure-registry HOST]... IMAGE
//   main.ts images
//   main.ts rmi IMAGE...
// and the table `images` prints, like docker's.
import { UsageError, parseCommandLine } from '../args.ts'
import { FriendlyError } from '../errors.ts'
import { familiarName, formatReference, parseReference } from './reference.ts'
import { formatSize } from './progress.ts'
import { ImageStore, type ImageRecord } from './store.ts'

export const IMAGE_USAGE = `usage: main.ts pull [--insecure-registry HOST]... IMAGE
       main.ts images
       main.ts rmi IMAGE...
  IMAGE is [REGISTRY/]NAME[:TAG|@sha256:DIGEST]: alpine:3.20, ghcr.io/owner/app@sha256:..., 127.0.0.1:5000/test/alpine:1
  --insecure-registry HOST  allow plain HTTP to HOST (a registry on this machine may always use it)`

export type ImageCommand =
  | { kind: 'pull'; image: string; insecureRegistries: string[] }
  | { kind: 'images' }
  | { kind: 'rmi'; images: string[] }

export const IMAGE_COMMANDS = ['pull', 'images', 'rmi'] as const

const PULL_OPTIONS = {
  'insecure-registry': { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const
const NO_OPTIONS = { help: { type: 'boolean', short: 'h' } } as const

/** Parses `pull ...`, `images`, `rmi ...` (argv[0] is the command); a mistake is a one-line UsageError. */
export function parseImageCommand(argv: string[]): ImageCommand {
  const [command, ...args] = argv
  const usage = IMAGE_USAGE
  if (command === 'pull') {
    const { values, positionals } = parseCommandLine(args, PULL_OPTIONS, { usage, positionals: true })
    if (values.help) throw new FriendlyError(usage, { exitCode: 0 })
    if (positionals.length !== 1) {
      throw new UsageError(positionals.length ? `pull takes one image, got ${positionals.length}: ${positionals.join(' ')}` : 'pull: which image? e.g. main.ts pull alpine:3.20', usage)
    }
    const insecureRegistries = values['insecure-registry'] ?? []
    if (insecureRegistries.some((h) => !h)) throw new UsageError('--insecure-registry needs a HOST (or HOST:PORT)', usage)
    parseReference(positionals[0]!) // a bad reference is refused before anything else happens
    return { kind: 'pull', image: positionals[0]!, insecureRegistries }
  }
  if (command === 'images') {
    const { values } = parseCommandLine(args, NO_OPTIONS, { usage })
    if (values.help) throw new FriendlyError(usage, { exitCode: 0 })
    return { kind: 'images' }
  }
  if (command === 'rmi') {
    const { values, positionals } = parseCommandLine(args, NO_OPTIONS, { usage, positionals: true })
    if (values.help) throw new FriendlyError(usage, { exitCode: 0 })
    if (!positionals.length) throw new UsageError('rmi: which image? (main.ts images lists them)', usage)
    for (const image of positionals) parseReference(image)
    return { kind: 'rmi', images: positionals }
  }
  throw new UsageError(`unknown command ${JSON.stringify(command)}`, usage)
}

/** The table of `main.ts images`: REPOSITORY, TAG, IMAGE ID (the config digest, like docker), SIZE (unpacked). */
export function formatImages(records: ImageRecord[], store: ImageStore): string {
  const rows = records.map((r) => {
    const ref = parseReference(r.reference)
    const size = r.layers.reduce((n, l) => n + (store.readLayer(l.diffId)?.unpackedBytes ?? 0), 0)
    return [familiarName(ref), ref.tag ?? (ref.digest ? `@${ref.digest.slice(7, 19)}` : '<none>'), r.config.slice(7, 19), formatSize(size)]
  })
  const table = [['REPOSITORY', 'TAG', 'IMAGE ID', 'SIZE'], ...rows]
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
  return table.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n')
}

/** `main.ts rmi IMAGE...`: each record removed, then what no other image (or running container) uses. */
export async function removeImages(images: string[], store = new ImageStore()): Promise<string[]> {
  store.init()
  const release = await store.lock()
  const lines: string[] = []
  try {
    for (const image of images) {
      const name = formatReference(parseReference(image))
      const { removedBlobs, removedLayers } = store.removeImage(name)
      lines.push(`Untagged: ${image}`)
      for (const layer of removedLayers) lines.push(`Deleted layer: ${layer}`)
      if (removedBlobs.length) lines.push(`Deleted ${removedBlobs.length} blob(s)`)
    }
  } finally {
    release()
  }
  return lines
}
