// `npm run registry [-- --from TARBALL|ROOTFS_DIR]` (as root): step 09's experiments need a registry to pull from.
// This starts the same one the checker uses (Debian's docker-registry on 127.0.0.1 with token auth), pushes the
// test image into it with skopeo (Alpine in two layers: the second deletes /etc/motd and empties /etc/apk/keys;
// an index with another platform's manifest listed first) as test/alpine:1, prints what to type, and keeps
// running until Enter or Ctrl-C; then the registry and its data are gone.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { UsageError, parseCommandLine } from '../lib/args.ts'
import { FriendlyError, formatError } from '../lib/errors.ts'
import { requireRootfs } from '../lib/rootfs/location.ts'
import { startRegistry } from '../checker/registry/registry.ts'
import { buildTestImage, pushImage } from '../checker/registry/test-image.ts'

const USAGE = 'usage: npm run registry [-- --from TARBALL|ROOTFS_DIR]   (as root)'

async function main(): Promise<void> {
  const { values } = parseCommandLine(
    process.argv.slice(2),
    { from: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    { usage: USAGE },
  )
  if (values.help) {
    console.log(USAGE)
    return
  }
  if (process.getuid?.() !== 0) throw new UsageError('the test image\'s files are owned by root: run it as root (sudo npm run registry)', USAGE)
  const from = values.from ?? requireRootfs(undefined)
  const base = fs.statSync(from).isDirectory() ? { dir: from } : { tarball: from }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-registry-image-'))
  const registry = await startRegistry()
  try {
    const passwd =
      'dir' in base && base.dir ? fs.readFileSync(path.join(base.dir, 'etc/passwd'), 'utf8') : 'root:x:0:0:root:/root:/bin/sh\n'
    const image = await buildTestImage({
      base,
      architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
      deleted: 'etc/motd',
      opaqueDir: 'etc/apk/keys',
      opaqueFile: ['new-key.rsa.pub', 'not a key\n'],
      replaced: ['etc/passwd', `${passwd.trimEnd()}\napp:x:1000:1000::/home/app:/bin/sh\n`],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'MC_IMAGE=from-the-image'],
      workingDir: 'srv/app',
      cmd: ['/bin/sh'],
      user: 'app',
    }, path.join(work, 'layout'), '1')
    await pushImage(image, registry, 'test/alpine:1')
    console.log(`A registry on ${registry.host} (its data: ${registry.dir}/data), with test/alpine:1:
  index     ${image.index.digest} (another platform's manifest first, then this machine's)
  manifest  ${image.manifest.digest}
  config    ${image.config.digest}
  layers    ${image.layers.map((l) => l.digest).join('\n            ')}

  sudo MINICONTAINER_HOME=/tmp/h1 sh bin/node solutions/09-images/main.js pull ${registry.host}/test/alpine:1
  skopeo inspect --tls-verify=false --raw docker://${registry.host}/test/alpine:1

Enter (or Ctrl-C) stops it and removes its data.`)
    const rl = readline.createInterface({ input: process.stdin })
    await new Promise<void>((resolve) => {
      rl.once('line', () => resolve())
      rl.once('close', () => resolve())
      process.once('SIGINT', () => resolve())
    })
    rl.close()
  } finally {
    await registry.stop()
    fs.rmSync(work, { recursive: true, force: true })
  }
}

try {
  await main()
} catch (error) {
  console.error(formatError('registry', error))
  process.exitCode = error instanceof FriendlyError ? error.exitCode : 1
}
