/**
 * Container ids (64 lowercase hex, random; shown as their first 12) and docker-like names
 * (`adjective_surname`) for containers created without --name.
 */
import { randomBytes, randomInt } from 'node:crypto';

export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

export const shortId = (id: string): string => id.slice(0, 12);

const ADJECTIVES = [
  'admiring',
  'brave',
  'busy',
  'calm',
  'clever',
  'cool',
  'dazzling',
  'eager',
  'elated',
  'epic',
  'festive',
  'focused',
  'gallant',
  'gifted',
  'happy',
  'hopeful',
  'jolly',
  'keen',
  'kind',
  'loving',
  'lucid',
  'modest',
  'nifty',
  'nostalgic',
  'optimistic',
  'peaceful',
  'practical',
  'quirky',
  'relaxed',
  'serene',
  'sharp',
  'stoic',
  'sweet',
  'tender',
  'trusting',
  'upbeat',
  'vibrant',
  'wizardly',
  'zealous',
];
const SURNAMES = [
  'babbage',
  'bell',
  'bohr',
  'curie',
  'darwin',
  'dijkstra',
  'einstein',
  'euler',
  'feynman',
  'franklin',
  'galileo',
  'gauss',
  'hopper',
  'hypatia',
  'kepler',
  'knuth',
  'lamarr',
  'lovelace',
  'maxwell',
  'mccarthy',
  'meitner',
  'newton',
  'noether',
  'pascal',
  'ritchie',
  'shannon',
  'thompson',
  'torvalds',
  'turing',
  'wozniak',
];

export function randomName(taken: (name: string) => boolean): string {
  for (let i = 0; ; i++) {
    const base = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${SURNAMES[randomInt(SURNAMES.length)]}`;
    const name = i < 10 ? base : `${base}${randomInt(1000)}`;
    if (!taken(name)) return name;
  }
}

/** Names as docker allows them. */
export const VALID_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
