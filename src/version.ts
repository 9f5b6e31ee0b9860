declare const BRIG_VERSION: string | undefined;

/** Set at build time by scripts/build.mjs; "dev" when running from source. */
export const VERSION: string = typeof BRIG_VERSION === 'string' ? BRIG_VERSION : '0.0.0-dev';
export const API_VERSION = 1;
