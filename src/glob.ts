/** Counts the steps a glob match takes, for tests that prove it linear. */
export interface GlobMeter {
  steps: number;
}

/**
 * Whether `text` matches `glob` as a whole, where `*` is any run of characters (none included) and `?`
 * exactly one character; everything else, `\\` and `[` included, stands for itself, case-sensitively.
 * Characters are code points, so `?` matches an emoji, and `*` and `?` match line ends too (a name may
 * hold one). The classic two-pointer algorithm: when a character does not match, only the last `*` is
 * retried, one character further on, so a match takes at most (|text| + 1) x (|glob| + 1) steps whatever
 * the number of stars; a regular expression of `.*` runs backtracks exponentially in them.
 */
export function globMatch(glob: string | readonly string[], text: string | readonly string[], meter?: GlobMeter): boolean {
  const p = typeof glob === 'string' ? Array.from(glob) : glob;
  const t = typeof text === 'string' ? Array.from(text) : text;
  let pi = 0;
  let ti = 0;
  let star = -1;
  let resume = 0;
  let steps = 0;
  while (ti < t.length) {
    steps++;
    const pc = p[pi];
    if (pc === '*') {
      // Let the star match nothing for now; remember where to resume if that fails.
      star = pi++;
      resume = ti;
    } else if (pi < p.length && (pc === '?' || pc === t[ti])) {
      pi++;
      ti++;
    } else if (star >= 0) {
      // The last star takes one more character; anything before it stays matched.
      pi = star + 1;
      ti = ++resume;
    } else {
      if (meter) meter.steps += steps;
      return false;
    }
  }
  while (p[pi] === '*') {
    steps++;
    pi++;
  }
  if (meter) meter.steps += steps;
  return pi === p.length;
}

/** A compiled glob: `test` as on a RegExp, by `globMatch`. */
export interface GlobMatcher {
  readonly glob: string;
  test(text: string): boolean;
}

export function globMatcher(glob: string): GlobMatcher {
  const pattern = Array.from(glob);
  return { glob, test: (text: string) => globMatch(pattern, text) };
}

const REGEXP_SPECIAL = /[.+^${}()|[\]\\/]/g;

/**
 * The regular expression a glob once compiled to, rebuilt so that it cannot backtrack: `test` is
 * `globMatch`, and `exec` (and so `match`, `replace`, ...) runs an equivalent pattern in which each
 * literal run between stars is taken at its first occurrence inside an atomic lookahead, as the
 * two-pointer algorithm does. Kept for callers that hold RegExp[]; new code should use `globMatcher`.
 */
class GlobRegExp extends RegExp {
  /** split() and matchAll() build their own copy: a plain RegExp of the same source. */
  static override get [Symbol.species](): RegExpConstructor {
    return RegExp;
  }
  readonly #pattern: readonly string[];
  constructor(glob: string) {
    const segments = glob.split('*').map((seg) => seg.replace(REGEXP_SPECIAL, '\\$&').replace(/\?/g, '.'));
    let body: string;
    if (segments.length === 1) body = segments[0] as string;
    else {
      const middle = segments.slice(1, -1).map((seg, i) => `(?=([\\s\\S]*?${seg}))\\${i + 1}`);
      body = `${segments[0]}${middle.join('')}[\\s\\S]*${segments[segments.length - 1]}`;
    }
    super(`^${body}$`, 'su');
    this.#pattern = Array.from(glob);
  }
  override test(text: string): boolean {
    return globMatch(this.#pattern, String(text));
  }
}

/** A glob as a RegExp whose `test` and `exec` both take linear time; see `globMatch` for the rules. */
export function globToRegExp(glob: string): RegExp {
  return new GlobRegExp(glob);
}
