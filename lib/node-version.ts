// The Node.js the project needs: package.json's `engines.node` is the one place it is written (the launcher reads
// it too). Node strips the TypeScript types itself from 22.18 on.
import fs from 'node:fs'
import path from 'node:path'
import { PROJECT_ROOT } from './steps.ts'

/** "22.18.0", from `"node": ">=22.18.0"`. */
export function minimumNode(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string } }
  const match = /^>=\s*(\d+\.\d+\.\d+)$/.exec(pkg.engines?.node?.trim() ?? '')
  if (!match) throw new Error(`package.json: engines.node must be ">=X.Y.Z" (is ${JSON.stringify(pkg.engines?.node)})`)
  return match[1]!
}

/** a >= b for dotted versions ("24.1.0" >= "22.18"). */
export function versionAtLeast(version: string, minimum: string): boolean {
  const a = version.replace(/^v/, '').split('.').map(Number)
  const b = minimum.split('.').map(Number)
  for (let i = 0; i < b.length; i++) if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > b[i]!
  return true
}

export function nodeIsNewEnough(version = process.versions.node): boolean {
  return versionAtLeast(version, minimumNode())
}
