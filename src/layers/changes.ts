/**
 * A change set: what differs between a parent filesystem tree and a child tree. It is what every
 * diff source produces (an overlay upper directory, `zfs diff`, a tree comparison) and what
 * `createLayer` turns into a layer.
 *
 * Paths are relative to the tree's root, '/'-separated, without a leading '/' or './'. They are
 * kept as raw bytes in a Buffer-safe 'latin1'-free form: a path is a JS string decoded from UTF-8
 * when valid; producers that meet names that are not valid UTF-8 set `rawPath` (the exact bytes).
 */
export type ChangeKind = 'add' | 'modify' | 'delete';

export interface Change {
  kind: ChangeKind;
  /** Relative path inside the tree, e.g. 'etc/passwd'. */
  path: string;
  /** The exact bytes of the path when they are not valid UTF-8. */
  rawPath?: Buffer;
  /**
   * For a directory added or modified: it replaces the parent's directory entirely (the
   * parent's children are gone), as an overlayfs opaque directory does. createLayer writes a
   * `.wh..wh..opq` marker in it.
   */
  opaque?: boolean;
}
