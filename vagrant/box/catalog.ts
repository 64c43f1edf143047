// Writes the Vagrant box catalog (Vagrant's box metadata JSON: name, versions, providers with architecture, URL
// and sha256) from the build records vagrant/box/build.sh leaves next to the .box files.
//
//   sh bin/node vagrant/box/catalog.ts --base BASE_URL --out CATALOG.json BUILD-INFO.json...
//
// Entries already in CATALOG.json for other versions are kept (newest first), so one catalog can serve a class that
// still has last term's box. The amd64 entries come first: Vagrant before 2.4 knows no architectures and takes the
// first entry of its provider.
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'

export interface CatalogProvider {
  name: string
  url: string
  checksum_type: 'sha256'
  checksum: string
  architecture: string
  default_architecture: boolean
}
export interface CatalogVersion {
  version: string
  description?: string
  providers: CatalogProvider[]
}
export interface Catalog {
  name: string
  description: string
  versions: CatalogVersion[]
}
interface BuildInfo {
  name: string
  version: string
  recipe_hash: string
  arch: string
  debian: string
  kernel: string
  node: string
  alpine: string
  boxes: { provider: string; file: string; size: number; sha256: string }[]
}

const DESCRIPTION =
  'The minicontainer workshop box: Debian with cgroup v2, no swap, Node 24 and the Alpine rootfs baked in (vagrant/box/).'

function compareVersions(a: string, b: string): number {
  const x = a.split('.').map(Number)
  const y = b.split('.').map(Number)
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0)
  return 0
}

export function buildCatalog(previous: Catalog | undefined, infos: BuildInfo[], base: string): Catalog {
  if (infos.length === 0) throw new Error('no build record given')
  const name = infos[0]!.name
  const versions = new Map<string, CatalogVersion>()
  for (const v of previous?.name === name ? previous.versions : []) versions.set(v.version, v)
  const fresh = new Map<string, CatalogVersion>()
  for (const info of infos) {
    if (info.name !== name) throw new Error(`build records of two boxes: ${name} and ${info.name}`)
    const entry = fresh.get(info.version) ?? { version: info.version, description: '', providers: [] }
    entry.description = `Debian ${info.debian}, kernel ${info.kernel}, Node ${info.node}, ${info.alpine}; recipe ${info.recipe_hash}`
    for (const box of info.boxes) {
      entry.providers = entry.providers.filter((p) => !(p.name === box.provider && p.architecture === info.arch))
      entry.providers.push({
        name: box.provider,
        url: `${base.replace(/\/+$/, '')}/${box.file}`,
        checksum_type: 'sha256',
        checksum: box.sha256,
        architecture: info.arch,
        default_architecture: info.arch === 'amd64',
      })
    }
    fresh.set(info.version, entry)
  }
  for (const [version, entry] of fresh) {
    entry.providers.sort((a, b) => Number(b.architecture === 'amd64') - Number(a.architecture === 'amd64') || a.name.localeCompare(b.name))
    versions.set(version, entry)
  }
  return { name, description: DESCRIPTION, versions: [...versions.values()].sort((a, b) => compareVersions(b.version, a.version)) }
}

function main(): number {
  const { values, positionals } = parseArgs({
    options: { base: { type: 'string' }, out: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  })
  if (!values.base || !values.out || positionals.length === 0) {
    console.error('usage: catalog.ts --base BASE_URL --out CATALOG.json BUILD-INFO.json...')
    return 2
  }
  const infos = positionals.map((file) => JSON.parse(fs.readFileSync(file, 'utf8')) as BuildInfo)
  let previous: Catalog | undefined
  try {
    previous = JSON.parse(fs.readFileSync(values.out, 'utf8')) as Catalog
  } catch {
    // a new catalog
  }
  const catalog = buildCatalog(previous, infos, values.base)
  fs.mkdirSync(path.dirname(path.resolve(values.out)), { recursive: true })
  fs.writeFileSync(values.out, JSON.stringify(catalog, null, 2) + '\n')
  return 0
}

if (import.meta.filename === path.resolve(process.argv[1] ?? '')) process.exitCode = main()
