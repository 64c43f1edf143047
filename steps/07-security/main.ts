// minicontainer: `node main.ts run [--hostname NAME] [--memory SIZE] [--cpus N] [--] CMD [ARG...]`
// The engine is in container.ts; each kernel feature has a file of its own.
import { saveCompileCache, startCompileCache } from '../../lib/compile-cache.ts'

startCompileCache()
// Imported only now, so that the compile cache covers it and everything it imports.
const { main } = await import('./container.ts')
saveCompileCache()

await main(process.argv.slice(2))
