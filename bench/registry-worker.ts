/**
 * One brig registry operation as its own process, for bench/registry.mjs (bundled with esbuild
 * like dist/brig.mjs, so node start-up and module loading are counted as they are for skopeo).
 *   registry-worker.mjs import ROOT LAYOUT          puts an OCI layout's blobs into ROOT's store
 *   registry-worker.mjs pull ROOT HOST/REPO:TAG     pull into ROOT's content store (no unpack)
 *   registry-worker.mjs push ROOT HOST/REPO:TAG     push the imported image
 * Prints one JSON line: {ms, bytes}.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalContentStore } from '../src/content/local-store.ts';
import type { Descriptor } from '../src/content/store.ts';
import { openDatabase } from '../src/metadata/db.ts';
import { RegistryHosts, registriesDefaults, resolveRegistries } from '../src/registry/config.ts';
import { CredentialStore } from '../src/registry/credentials.ts';
import { Registry } from '../src/registry/registry.ts';

const [op, root, arg] = process.argv.slice(2) as [string, string, string];
const t0 = performance.now();
const db = openDatabase(join(root, 'brig.db'));
const content = new LocalContentStore(root, db);

async function main(): Promise<void> {
  if (op === 'import') {
    for (const hex of readdirSync(join(arg, 'blobs', 'sha256'))) {
      const bytes = readFileSync(join(arg, 'blobs', 'sha256', hex));
      await content.ingest(bytes, { digest: `sha256:${hex}`, size: bytes.length });
    }
    const index = JSON.parse(readFileSync(join(arg, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    const d = index.manifests[0]!;
    writeFileSync(
      join(root, 'target.json'),
      JSON.stringify({ mediaType: d.mediaType, digest: d.digest, size: d.size }),
    );
    return;
  }
  const host = arg.split('/')[0]!;
  const resolved = resolveRegistries(
    { ...registriesDefaults, insecure: [host], extraAuthFiles: [] },
    { root, configFile: join(root, 'brig.yaml') },
  );
  const registry = new Registry({
    hosts: new RegistryHosts(resolved),
    credentials: new CredentialStore(resolved.authFile),
    content,
  });
  try {
    if (op === 'pull') {
      const r = await registry.pull(arg, { platforms: [{ os: 'linux', architecture: 'amd64' }] });
      process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0, bytes: r.bytesFetched })}\n`);
    } else if (op === 'push') {
      const target = JSON.parse(readFileSync(join(root, 'target.json'), 'utf8')) as Descriptor;
      const r = await registry.push(arg, target);
      process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0, bytes: r.bytesUploaded })}\n`);
    } else {
      throw new Error(`unknown operation ${op}`);
    }
  } finally {
    await registry.close();
  }
}

main().then(
  () => {
    db.close();
  },
  (e) => {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  },
);
