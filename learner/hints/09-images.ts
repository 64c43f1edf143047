// Hints and experiments of step 09 (format: ./types.ts). Level 3 of each TODO is the solution's code, read from
// engine/all-steps: never written here.
import type { StepHints } from './types.ts'

export const hints: StepHints = {
  step: '09-images',
  todos: [
    {
      id: '09.1',
      concept: 'the manifest of this machine\'s platform, chosen from the index',
      nudge: 'A tag like alpine:3.20 points at an index: a list of manifests, one per platform, often with attestations mixed in. Which fields of an entry tell you it is an image for THIS machine, and which tell you it is an image at all? What should happen when no entry fits?',
      api: 'Each entry of `index.manifests` is a descriptor: `mediaType`, `digest`, `size` and `platform` (`os`, `architecture`, sometimes `variant`). `platform` here is the machine\'s (`machinePlatform()` in lib/oci/documents.ts: Go\'s names, amd64 and arm64). An image manifest has one of `MANIFEST_TYPES` (lib/oci/registry.ts); arm64 images often say `variant: "v8"`. `Array.prototype.find`; a `FriendlyError` (lib/errors.ts) naming the platforms there are. The image-spec\'s image-index.md, "platform".',
    },
    {
      id: '09.2',
      concept: 'a blob stored only when its bytes are its digest, and never downloaded twice',
      nudge: 'The manifest promises a digest and a size for every blob. When can you know that the bytes match, and what must have happened to them by then? What must the store look like if they do not? And if the store already has a file under that digest, what does that name promise?',
      api: '`createHash(\'sha256\')` (node:crypto): `.update(chunk)` for each chunk of `for await (const chunk of await download())`, `.digest(\'hex\')` at the end; a digest is written `sha256:` + 64 hex digits. Count the bytes as they come and stop when they exceed `expected.size`. The store: `store.hasBlob(digest)`, `store.stagingFile()` with `write(chunk)`, `commit(digest)` (a rename: only then does the name exist) and `discard()` (in a `finally`: safe after commit). The image-spec\'s descriptor.md, "Digests".',
    },
    {
      id: '09.3',
      concept: 'OCI whiteouts turned into overlayfs\' own',
      nudge: 'A tar file cannot delete anything, so a layer says "deleted" with marker files. overlayfs has its own markers, which a tar file cannot carry. For each of the two OCI markers, what does overlayfs use instead, and where must it be? What if the same layer deletes a name and then creates it again?',
      api: 'Walk the layer: `fs.readdirSync(dir, { recursive: true })`. `.wh.NAME` -> at NAME a character device with device number 0/0: `mknod(path, S_IFCHR, makedev(0, 0))` (lib/libc.ts). `.wh..wh..opq` -> the extended attribute `trusted.overlay.opaque` = `y` on its folder: `setxattr(path, name, value)` (lib/libc.ts). Remove the marker files (`fs.rmSync`). `fs.lstatSync(p, { throwIfNoEntry: false })` tells whether the layer has NAME itself. The image-spec\'s layer.md, "Whiteouts"; the kernel\'s overlayfs.rst, "whiteouts and opaque directories"; man 2 mknod, man 2 setxattr.',
    },
    {
      id: '09.4',
      concept: 'the image\'s layers as the overlay\'s lower layers, top first',
      nudge: 'A manifest lists layers from the bottom (the base) to the top (the last build step). overlayfs takes several lower folders in one option: which of them does it look at first when two have the same path? So in which order must the layers go?',
      api: '`lowerdir=A:B:C`: colon-separated, A is the uppermost lower layer and wins. `layer.lowerDirs` is bottom first; `[...array].reverse()` copies before reversing. Each path through `overlayPath()` (it escapes `:` and `,`), then the same `mount(2)` call as in step 06. The kernel\'s overlayfs.rst, "Multiple lower layers".',
    },
    {
      id: '09.5',
      concept: 'the image config applied: Entrypoint and Cmd, Env, WorkingDir, User',
      nudge: 'An image says how it wants to be started. If the image has an Entrypoint ["/app"] and a Cmd ["--serve"], what runs for `run IMAGE`, and what for `run IMAGE --help`? Whose PATH wins, the engine\'s default or the image\'s? Where does the command start when the image names no folder?',
      api: '`config.config` (c here) has `Entrypoint` and `Cmd` (arrays, or null), `Env` (an array of "NAME=value" strings: split at the FIRST "="), `WorkingDir` (a string, may be empty) and `User` (a string, may be empty). The result: `{ command, env, workingDir, user }`; the engine\'s init then creates WorkingDir, changes into it and becomes User (lib/oci/user.ts). A `FriendlyError` when there is no command at all. The image-spec\'s config.md; docker\'s "ENTRYPOINT and CMD" table.',
    },
  ],
  experiments: [
    {
      id: '09.x1',
      title: 'Talk to a registry by hand',
      try: [
        'Start a registry with an image in it: `sudo npm run registry` (it prints its HOST, 127.0.0.1:PORT, and the image\'s digests, and runs until Enter).',
        'Then: `curl -si http://HOST/v2/test/alpine/manifests/1 | head -5`, take the realm, service and scope from the `WWW-Authenticate` line, and `TOKEN=$(curl -s "REALM?service=SERVICE&scope=SCOPE" | sed \'s/.*"token":"\\([^"]*\\)".*/\\1/\')`.',
        'Ask again: `curl -s -H "Authorization: Bearer $TOKEN" -H \'Accept: application/vnd.oci.image.index.v1+json\' http://HOST/v2/test/alpine/manifests/1 | head -c 600`, and `skopeo inspect --tls-verify=false --raw docker://HOST/test/alpine:1`.',
      ].join('\n'),
      predict: 'What does the registry answer the first request, which carries no credentials at all? What does the index list, and what does `sha256sum` of the exact bytes you received print, compared with the `Docker-Content-Digest` header?',
      answer: '`401 Unauthorized` with `WWW-Authenticate: Bearer realm="http://127.0.0.1:PORT/token",service="minicontainer-test-registry",scope="repository:test/alpine:pull"`: even anonymous pulls go through a token, which the realm hands out without a password for `pull` (Docker Hub does exactly this). With the token, the index: two manifests, the other platform\'s FIRST, each with a digest, a size and a platform. `curl -s ... | sha256sum` prints the same hex as the `Docker-Content-Digest` header: a manifest\'s digest is the sha256 of its bytes exactly as sent (re-formatting the JSON would change it, which is why clients keep the bytes).',
    },
    {
      id: '09.x2',
      title: 'Damage a blob in the registry',
      try: [
        'With the registry of 09.x1 running: `sudo find DATA -path "*blobs*" -name data -size -4k`, with DATA the data folder `npm run registry` printed ("its data: ..."), lists the small blobs (manifests and configs).',
        'Pick the config (`grep -l MC_IMAGE` on them), change one letter of its MC_IMAGE value with `sudo sed -i`, then `sudo MINICONTAINER_HOME=/tmp/h1 sh bin/node steps/09-images/main.js pull HOST/test/alpine:1` and `ls /tmp/h1/images/blobs/sha256/`.',
        'Then with skopeo: `skopeo copy --src-tls-verify=false docker://HOST/test/alpine:1 oci:/tmp/sk:1`; and with the starter (`git stash` your step 9 work first, `git stash pop` afterwards), by the manifest\'s digest (npm run registry prints it; by tag the starter takes the wrong platform first): `sudo MINICONTAINER_HOME=/tmp/h1s sh bin/node steps/09-images/main.js pull HOST/test/alpine@MANIFEST_DIGEST; ls /tmp/h1s/images/blobs/sha256/`. Put the letter back afterwards.',
      ].join('\n'),
      predict: 'The damaged config is still valid JSON and has the same size. Which pull notices, where in the transfer, and what is in the store afterwards?',
      answer: 'The solution refuses it after the last byte ("refused sha256:7c5a...: sha256 mismatch: the registry sent 549 bytes whose sha256 is sha256:0e8e..."), exit 125, and blobs/sha256 holds only the index and the manifest: the config\'s staging file was discarded, no record was written, so `run` cannot use half an image. skopeo refuses too ("Download config.json digest sha256:0e8e... does not match expected sha256:7c5a..."). The starter stores the altered config under the original digest and reports success, and every later run would get the changed value: the name no longer means the content, which is the whole point of content addressing. The registry itself does not re-hash what it serves.',
    },
    {
      id: '09.x3',
      title: 'Whiteouts, both forms',
      try: [
        'Pull the image of 09.x1: `sudo MINICONTAINER_HOME=/tmp/h2 sh bin/node steps/09-images/main.js pull HOST/test/alpine:1`.',
        'The top layer as the registry has it (the second-largest blob; the largest is Alpine): `sudo tar -tzvf $(ls -S /tmp/h2/images/blobs/sha256/* | sed -n 2p) | grep wh`.',
        'The layer as the store has it: `sudo ls -la /tmp/h2/images/layers/*/fs/etc | grep motd` and `sudo getfattr -d -m trusted /tmp/h2/images/layers/*/fs/etc/apk/keys` (getfattr: `apt-get install attr`).',
        'Then `sudo MINICONTAINER_HOME=/tmp/h2 sh bin/node steps/09-images/main.js run HOST/test/alpine:1 -- /bin/sh -c \'ls /etc/motd; ls /etc/apk/keys; sleep 30\' &` and on the host `findmnt -N $(pgrep -n -f \'sleep 30\') -o TARGET,FSTYPE,OPTIONS /` (compare the folder names with `ls /tmp/h2/images/layers` and the config\'s diff_ids: `skopeo inspect --tls-verify=false --config docker://HOST/test/alpine:1`).',
      ].join('\n'),
      predict: 'Which names does the tar of the top layer hold for the deleted /etc/motd and the emptied /etc/apk/keys? What sits at those places in the unpacked layer? And in what order does findmnt list the lowerdirs?',
      answer: 'The tar holds `etc/.wh.motd` and `etc/apk/keys/.wh..wh..opq`, empty regular files: OCI\'s portable markers. The unpacked layer has `etc/motd` as `c---------` with device 0, 0 (overlayfs\' whiteout) and `trusted.overlay.opaque="y"` on `etc/apk/keys` (overlayfs\' opaque folder), and no `.wh.` file left. Inside, /etc/motd does not exist and /etc/apk/keys holds only the new key. findmnt shows `lowerdir=.../layers/<top>/fs:.../layers/<base>/fs`: the top layer first. Swap them and the base\'s /etc/motd wins again.',
    },
    {
      id: '09.x4',
      title: 'Cold, warm, and a shared base',
      try: [
        'With the registry of 09.x1: `time sudo MINICONTAINER_HOME=/tmp/h3 sh bin/node steps/09-images/main.js pull HOST/test/alpine:1`, then the same again, then `sudo du -sh /tmp/h3/images/layers/*`.',
        'Compare `time skopeo copy --src-tls-verify=false docker://HOST/test/alpine:1 oci:/tmp/sk:1` (twice), and `npm run bench:pull`.',
      ].join('\n'),
      predict: 'How many bytes does the second pull download? Which of the two tools does more work for a cold pull, and what is that work?',
      answer: 'The second pull downloads nothing: the index (small) is asked for again, since a tag can move, but its digest is already in the store, and every blob and layer is there ("Already exists", "Image is up to date"). skopeo copy only downloads and verifies; the engine also unpacks each layer (tar, whiteouts) so that it can be a lowerdir, which is most of its cold time; `skopeo copy` + `umoci unpack` is the fair comparison (bench:pull has all three). A second image on the same base downloads only its own layers: the store names unpacked layers by their diff_id, so the base sits on disk once.',
    },
  ],
}
