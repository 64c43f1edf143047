// The Node.js the project needs: package.json's `engines.node` is the one place it is written, and bin/launch.mjs's
// satisfies() the one reading of it (the launcher runs on old Nodes, so it is plain JavaScript; this is its face for
// the TypeScript code). Node strips the TypeScript types itself from 22.18 on, and from 24.3 on the 24 line.
import fs from 'node:fs'
import path from 'node:path'
import { satisfies } from '../bin/launch.mjs'
import { PROJECT_ROOT } from './steps.ts'

/** package.json's engines.node: the Node versions that run the project, e.g. "^22.18.0 || >=24.3.0". */
export function supportedNodes(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string } }
  const range = pkg.engines?.node?.trim()
  if (!range) throw new Error('package.json has no engines.node: restore it from the repository')
  return range
}

/** a >= b for dotted versions ("24.1.0" >= "22.18"). */
export function versionAtLeast(version: string, minimum: string): boolean {
  const a = version.replace(/^v/, '').split('.').map(Number)
  const b = minimum.split('.').map(Number)
  for (let i = 0; i < b.length; i++) if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > b[i]!
  return true
}

export function nodeIsNewEnough(version = process.versions.node): boolean {
  return satisfies(version, supportedNodes())
}
