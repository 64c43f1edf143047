// The image commands of the engine's command line (the engine's main dispatches to them):
//   main.ts pull [--insecure-registry HOST]... IMAGE
//   main.ts images
//   main.ts rmi IMAGE...
// and the table `images` prints, like docker's.
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

function usageError(message: string): FriendlyError {
  return new FriendlyError(message, { hint: IMAGE_USAGE.split('\n')[0] })
}

/** `--insecure-registry HOST` / `--insecure-registry=HOST`, removed from args; the rest returned. */
export function takeInsecureRegistries(args: string[]): { insecureRegistries: string[]; rest: string[] } {
  const insecureRegistries: string[] = []
  const rest: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--') {
      rest.push(...args.slice(i))
      break
    }
    if (arg === '--insecure-registry' || arg.startsWith('--insecure-registry=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : args[++i]
      if (!value) throw usageError('--insecure-registry needs a HOST (or HOST:PORT)')
      insecureRegistries.push(value)
    } else {
      rest.push(arg)
    }
  }
  return { insecureRegistries, rest }
}

/** Parses `pull ...`, `images`, `rmi ...` (argv[0] is the command). */
export function parseImageCommand(argv: string[]): ImageCommand {
  const [command, ...args] = argv
  if (args.includes('--help') || args.includes('-h')) throw new FriendlyError(IMAGE_USAGE, { exitCode: 0 })
  if (command === 'pull') {
    const { insecureRegistries, rest } = takeInsecureRegistries(args)
    const unknown = rest.find((a) => a.startsWith('-'))
    if (unknown) throw usageError(`unknown option ${unknown} for pull`)
    if (rest.length !== 1) throw usageError(rest.length ? `pull takes one image, got ${rest.length}: ${rest.join(' ')}` : 'pull: which image? e.g. main.ts pull alpine:3.20')
    parseReference(rest[0]!) // a bad reference is refused before anything else happens
    return { kind: 'pull', image: rest[0]!, insecureRegistries }
  }
  if (command === 'images') {
    if (args.length) throw usageError(`images takes no arguments, got: ${args.join(' ')}`)
    return { kind: 'images' }
  }
  if (command === 'rmi') {
    if (!args.length) throw usageError('rmi: which image? (main.ts images lists them)')
    const unknown = args.find((a) => a.startsWith('-'))
    if (unknown) throw usageError(`unknown option ${unknown} for rmi`)
    for (const a of args) parseReference(a)
    return { kind: 'rmi', images: args }
  }
  throw usageError(`unknown command ${JSON.stringify(command)}`)
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
