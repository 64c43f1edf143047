// minicontainer: `node main.js run [--hostname NAME] [--memory SIZE] [--cpus N] [--] CMD [ARG...]`
// The engine is in container.ts; each kernel feature has a file of its own. This entry is JavaScript so that Node
// can turn its compile cache on before it meets the first .ts file (lib/compile-cache.js says why): a container
// starts about 100 ms sooner.
import { saveCompileCache, startCompileCache } from '../../lib/compile-cache.js'

startCompileCache()
// Imported only now, so that the compile cache covers it and everything it imports.
const { main } = await import('./container.ts')
saveCompileCache()

await main(process.argv.slice(2))
