/**
 * The injected randomness source (STYLE.md §14): code that needs random numbers (jitter, latency
 * draws in FaultyStore, model-based tests) takes a `Random` instead of calling `Math.random()`,
 * so that a test can replay a run from its seed.
 *
 * - `systemRandom`: the operating system's CSPRNG (node:crypto), drawn in blocks.
 * - `seededRandom(seed)`: sfc32 (Chris Doty-Humphrey's Small Fast Chaotic generator, 128-bit
 *   state, passes PractRand), seeded through splitmix32. Deterministic: the same seed gives the
 *   same sequence on every platform and every release; tests/store/faulty-store.test.ts pins the first
 *   outputs, so a change here is a deliberate, visible break of recorded seeds.
 *
 * Both build `next`, `int` and `bytes` from one stream of uint32 words in the same way:
 * `next()` takes 53 bits from two words, `int()` rejects draws past the largest multiple of its
 * bound (no modulo bias), `bytes()` spends one word per four bytes, little-endian.
 */
import { randomFillSync } from "node:crypto";
import { ValidationError } from "../errors.js";

/** A source of randomness. Code takes one instead of calling Math.random, so tests can replay a run. */
export interface Random {
  /** A float in [0, 1) with 53 random bits. */
  next(): number;
  /** An integer in [0, maxExclusive), uniform; `maxExclusive` is a positive safe integer. */
  int(maxExclusive: number): number;
  /** `n` random bytes in a fresh array. */
  bytes(n: number): Uint8Array;
}

/** A Random made from a seed by `seededRandom()`: the same seed gives the same draws. */
export interface SeededRandom extends Random {
  /** The seed it was made from, to print in a failing test so the run can be replayed. */
  readonly seed: number;
}

const TWO_POW_26 = 2 ** 26;
const TWO_POW_53 = 2 ** 53;

/** Builds a Random from a generator of uint32 words. */
function randomFromWords(nextWord: () => number): Random {
  const next53 = () => (nextWord() >>> 5) * TWO_POW_26 + (nextWord() >>> 6);
  return {
    next: () => next53() / TWO_POW_53,
    int(maxExclusive: number): number {
      if (!Number.isSafeInteger(maxExclusive) || maxExclusive <= 0) {
        throw new ValidationError(`int() needs a positive safe integer bound, got ${maxExclusive}`);
      }
      const limit = TWO_POW_53 - (TWO_POW_53 % maxExclusive);
      let draw = next53();
      while (draw >= limit) draw = next53();
      return draw % maxExclusive;
    },
    bytes(n: number): Uint8Array {
      if (!Number.isSafeInteger(n) || n < 0) throw new ValidationError(`bytes() needs a non-negative integer count, got ${n}`);
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i += 4) {
        const word = nextWord();
        for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (word >>> (8 * j)) & 0xff;
      }
      return out;
    },
  };
}

/** Words drawn from the OS CSPRNG a block at a time: one syscall per 256 words, not per call. */
const SYSTEM_WORDS_PER_REFILL = 256;

function systemWords(): () => number {
  const pool = new Uint32Array(SYSTEM_WORDS_PER_REFILL);
  let used = pool.length;
  return () => {
    if (used === pool.length) {
      randomFillSync(pool);
      used = 0;
    }
    return pool[used++] as number;
  };
}

/** Randomness from the operating system (not reproducible): the default outside tests. */
export const systemRandom: Random = Object.freeze({
  ...randomFromWords(systemWords()),
  bytes(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) throw new ValidationError(`bytes() needs a non-negative integer count, got ${n}`);
    return randomFillSync(new Uint8Array(n));
  },
});

/** splitmix32: spreads a seed over the state words so that nearby seeds give unrelated streams. */
function splitmix32(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x9e3779b9) | 0;
    let t = state ^ (state >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  };
}

/** Outputs thrown away after seeding, as sfc32's author recommends, to leave the seeded state behind. */
const SFC32_WARMUP_ROUNDS = 12;

function sfc32Words(seed: number): () => number {
  const low = seed >>> 0;
  const high = Math.floor(seed / 2 ** 32) >>> 0;
  const mix = splitmix32(low);
  let a = mix();
  let b = mix();
  let c = mix() ^ high;
  let d = mix();
  const word = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < SFC32_WARMUP_ROUNDS; i++) word();
  return word;
}

/** A deterministic Random for tests and simulations; `seed` is any safe integer. */
export function seededRandom(seed: number): SeededRandom {
  if (!Number.isSafeInteger(seed)) throw new ValidationError(`seededRandom needs a safe integer seed, got ${seed}`);
  return Object.freeze({ ...randomFromWords(sfc32Words(seed)), seed });
}
