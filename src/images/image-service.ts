/**
 * ImageService: the images a host holds, on top of the content store and the `images` table.
 *
 * Vocabulary:
 *   - An *image* is a manifest, its config and its layers, stored as blobs in the content store.
 *   - Its *id* is the digest of its config (what `docker images` shows).
 *   - Its *names* are canonical references (./reference.ts) recorded in the `images` table; an
 *     image with no name is *dangling* and listed as <none>. A name is REPO:TAG, or REPO@DIGEST
 *     (docker's RepoDigests), made only by a registry: `record` (a pull by digest records only
 *     REPO@DIGEST; a pull by tag records REPO:TAG and REPO@DIGEST together; DIGEST is what the
 *     registry served: the manifest, or the index it was picked from) and `recordDigest` (a push:
 *     the digest the registry accepted). A tag that a later pull moves to another image leaves
 *     the old image with its digest names (listed as REPO <none>). `rm` of an image's last tag in
 *     a repository also removes its digest names in that repository, and `rm REPO@DIGEST` removes
 *     that name only, as docker does; `prune` counts an image without a tag as dangling.
 *   - An *image argument* (`IMAGE` on the command line) is a name in any form `parseReference`
 *     accepts (busybox, busybox:1.36, example.org/app:1), an id (sha256:…) or a unique id prefix.
 *     A name without a host means brigd's configured default registry (registries.defaultRegistry,
 *     src/registry/names.ts; docker.io by default), as in pull and push.
 *
 * Sources `import` accepts (detected from the path, never from its name):
 *   - an OCI image layout directory (has `oci-layout`);
 *   - an OCI archive (a tar of a layout; gzip or zstd compressed too);
 *   - a docker-archive as `docker save` or `skopeo copy … docker-archive:` writes it
 *     (manifest.json; converted to an OCI manifest on import, the config kept byte for byte);
 *   - a root filesystem, as a directory or a tarball (plain, gzip or zstd): one layer, a config
 *     for the host's os/architecture, a manifest (like `docker import`).
 * From a source with several images, `ref` picks one (the `org.opencontainers.image.ref.name`
 * annotation, the full name in `io.containerd.image.name`, or a docker-archive RepoTag); without
 * it such a source is ERR_IMAGE_AMBIGUOUS. An index is resolved to one platform manifest
 * (`platform`, default the host's); ERR_IMAGE_PLATFORM when it has none.
 *
 * Guarantees:
 *   - Import verifies every blob's size and digest as it is copied (a blob already stored is
 *     hashed again; one damaged on disk is replaced by the source's copy), validates every manifest,
 *     index and config (ERR_IMAGE_INVALID / ERR_IMAGE_MEDIA_TYPE with the field path) and the brig
 *     section (ERR_BRIG_SECTION_INVALID). Layers are not decompressed on import: their diff_ids
 *     are checked by unpack.
 *   - Every multi-step operation keeps an undo list: a failed import leaves the content store
 *     and the images table as they were (blobs it added are removed; blobs that were there stay).
 *   - An import holds a content lease until its record is written, so a concurrent GC never
 *     removes what it has copied.
 *   - `rm` refuses (ERR_IMAGE_IN_USE) to remove the last name of an image a container uses
 *     (containers.image_id = the image id) unless `force`, which then removes the name and leaves
 *     the image dangling while the container exists. Removing an id with several names needs
 *     `force` (ERR_IMAGE_IN_USE names them). Blobs no image needs are collected afterwards.
 *   - `prune` removes dangling images no container uses (`all`: every image no container uses),
 *     then collects unreferenced blobs.
 */
import type { Descriptor, Digest } from '../content/store.ts';
import type { BrigSection } from './brig-section.ts';
import type { ImageConfig, ImageManifest } from './oci.ts';
import type { PlatformSpec } from './platform.ts';

export interface ImageSummary {
  /** The image id (config digest). */
  id: Digest;
  /** Canonical names; empty for a dangling image. */
  names: string[];
  manifestDigest: Digest;
  /** Sum of the manifest, config and layer sizes as stored (compressed). */
  size: number;
  /** The config's `created`, if any. */
  created?: string;
  /** os/arch[/variant] */
  platform: string;
}

export interface LayerInfo {
  mediaType: string;
  digest: Digest;
  size: number;
  diffId: Digest;
}

export interface ImageDetails extends ImageSummary {
  /** The names that are REPO:TAG (docker's RepoTags, canonical). */
  repoTags: string[];
  /** The names that are REPO@DIGEST (docker's RepoDigests, canonical). */
  repoDigests: string[];
  target: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
  brig: BrigSection;
  layers: LayerInfo[];
}

export interface ImportOptions {
  /** NAME[:TAG] to record the image under (default: the name the source carries, if any). */
  name?: string;
  /** Picks one image out of a source that holds several. */
  ref?: string;
  /** Platform to pick from an index (default: the host's). */
  platform?: PlatformSpec;
  /**
   * Cancels the import (brigd: the client went away). It rejects with the signal's reason and is
   * undone like a failed import: no record, the lease dropped, the blobs it added removed, no
   * ingestion left. Once the record is written the import has happened and the signal is ignored.
   */
  signal?: AbortSignal;
  /** What to call the source in events and lease labels (default: the path). */
  label?: string;
}

export type SourceKind = 'oci-layout' | 'oci-archive' | 'docker-archive' | 'rootfs-dir' | 'rootfs-tar';

export interface ImportResult extends ImageSummary {
  source: SourceKind;
  /** The name this import recorded (given, or carried by the source); absent: none (`names` lists all the image's names). */
  name?: string;
}

export interface ExportResult {
  id: Digest;
  manifestDigest: Digest;
  format: 'oci-layout' | 'oci-archive';
  path: string;
  /** The `org.opencontainers.image.ref.name` written to index.json (the tag), if any. */
  refName?: string;
}

export interface UnpackResult {
  id: Digest;
  path: string;
  layers: number;
}

export interface RemoveResult {
  untagged: string[];
  /** Image ids whose last record was removed. */
  deleted: Digest[];
  /** Blobs the GC removed afterwards. */
  blobsRemoved: number;
  /** Unpacked layer snapshots that no remaining image, container or pull needed, removed afterwards. */
  layersRemoved: number;
  /** Bytes of the removed blobs and layer snapshots. */
  bytesReclaimed: number;
}

export interface PruneResult {
  deleted: Digest[];
  untagged: string[];
  blobsRemoved: number;
  /** Unpacked layer snapshots removed (see RemoveResult). */
  layersRemoved: number;
  /** Bytes of the removed blobs and layer snapshots. */
  bytesReclaimed: number;
}

export interface ImageService {
  import(source: string, opts?: ImportOptions): Promise<ImportResult>;
  /** `dest` ending in .tar → OCI archive; otherwise an OCI layout directory (absent or empty). */
  export(image: string, dest: string): Promise<ExportResult>;
  /** The image's root filesystem into `dir` (created if absent; must be empty), layer by layer. */
  unpack(image: string, dir: string, opts?: { unprivileged?: boolean }): Promise<UnpackResult>;
  list(): Promise<ImageSummary[]>;
  inspect(image: string): Promise<ImageDetails>;
  /** What a name or id stands for, without reading the image's blobs (a push reads them itself). */
  lookup(image: string): Promise<{ id: Digest; names: string[]; target: Descriptor }>;
  tag(source: string, target: string): Promise<{ id: Digest; name: string }>;
  rm(image: string, opts?: { force?: boolean }): Promise<RemoveResult>;
  prune(opts?: { all?: boolean }): Promise<PruneResult>;
  /**
   * Records an image whose blobs are already in the content store (a registry pull): `target` is
   * a manifest or an index (resolved to `platform`, default the host's); everything is validated
   * as on import, and every blob must be present (ERR_IMAGE_INVALID otherwise). `name` undefined
   * makes a dangling image. Call it while the pull's lease still holds the blobs.
   * `name` is NAME[:TAG], or NAME[:TAG]@DIGEST when DIGEST is `target`'s or `pulled` (the digest
   * the pulled reference pointed at: an index, or the manifest itself); such a name is recorded
   * as NAME@DIGEST (the tag dropped: the digest decided what was pulled). Any other digest is
   * ERR_REFERENCE_INVALID. With `pulled`, a NAME:TAG is recorded together with NAME@pulled, in
   * one transaction (both or neither): a pull by tag, whose tag pointed at `pulled`.
   */
  record(
    name: string | undefined,
    target: Descriptor,
    opts?: { platform?: PlatformSpec; pulled?: Digest },
  ): Promise<ImageSummary>;
  /**
   * Records REPO@DIGEST for the image `name` names (a push: DIGEST is what the registry accepted
   * for REPO, the pushed manifest or the index it was merged into), when `name` still names image
   * `id`. Returns the digest name, or undefined when `name` was removed or moved to another image
   * while the push ran (nothing recorded).
   */
  recordDigest(name: string, id: Digest, digest: Digest): Promise<string | undefined>;
  /**
   * Runs the layer GC: removes unpacked layers that no recorded image, leased config, container
   * or unpack in progress needs. A pull whose record failed calls it after dropping its lease.
   */
  collectLayers(): Promise<{ removed: number; bytes: number }>;
  /** Removes blobs that no image record reaches and no lease holds. */
  gc(): Promise<{ removed: Digest[]; bytes: number }>;
}
