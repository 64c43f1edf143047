// minicontainer: `node main.ts run [--hostname NAME] [--memory SIZE] [--cpus N] [--] CMD [ARG...]`
// The engine is in container.ts; each kernel feature has a file of its own.
import module from 'node:module'
import path from 'node:path'
import { PROJECT_ROOT } from '../../lib/steps.ts'

// Start-up speed (`npm run bench`): every container costs two Node start-ups, the engine and its init
// (this file again), and each would strip the types of every .ts file again. Node's compile cache keeps
// the stripped and compiled code on disk: a container starts about twice as fast. It is set in the
// environment so that init, which inherits it, finds its very first file in the cache. It lives with the
// project's packages, like other tools' caches, not in /tmp: root runs the code it finds there.
process.env.NODE_COMPILE_CACHE ??= path.join(PROJECT_ROOT, 'node_modules', '.cache', 'node-compile-cache')
module.enableCompileCache(process.env.NODE_COMPILE_CACHE)
// Imported only now so that the cache covers it and all it imports (static imports load before any code runs).
const { main } = await import('./container.ts')
// Save the cache now: init never exits normally (it becomes the command), so it would never save it.
module.flushCompileCache()

await main(process.argv.slice(2))
