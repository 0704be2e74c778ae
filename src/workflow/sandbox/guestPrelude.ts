// Script run in every fresh QuickJS context before the workflow. QuickJS has no host objects at all
// (no process, require, fs, timers or network); this only removes what would make a run
// nondeterministic or let it stall without operators (clocks, weak references, proxies), and makes
// Math.random a seeded generator so the same workflow on the same problem behaves the same.
export function guestPrelude(seed: number): string {
  return `"use strict";
(() => {
  for (const name of ["Date", "WeakRef", "FinalizationRegistry", "Proxy", "SharedArrayBuffer", "Atomics"]) {
    delete globalThis[name];
  }
  let state = ${seed >>> 0};
  Math.random = () => {
    state = (state + 0x6D2B79F5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
})();`;
}

/** A stable 32-bit seed from a problem id (FNV-1a). */
export function seedFromText(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
