/** "Did you mean" for a mistyped name, by edit distance (leven, the library jest and others use). */
import leven from 'leven';

/** ` (did you mean X?)` for the candidate closest to `word`, when it is close enough; else ''. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let distance = Infinity;
  for (const candidate of candidates) {
    const d = leven(word.toLowerCase(), candidate.toLowerCase());
    if (d < distance) {
      best = candidate;
      distance = d;
    }
  }
  return best !== undefined && distance > 0 && distance <= Math.max(2, Math.floor(word.length / 3))
    ? ` (did you mean ${best}?)`
    : '';
}
