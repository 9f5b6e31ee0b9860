/** The layers module's public surface (contracts in ./layers.ts). */

export { MEDIA_TYPES } from './compression.ts';
export {
  type ApplyLayerOptions,
  type ApplyLayerResult,
  applyLayer,
  type Change,
  type ChangeKind,
  type Compression,
  type CreateLayerOptions,
  type CreateLayerResult,
  changesFromOverlayUpper,
  changesFromTrees,
  createLayer,
} from './layers.ts';
