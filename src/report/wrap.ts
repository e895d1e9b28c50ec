/**
 * Line wrapping for the human report: text is broken at spaces, and a word longer than the line (an
 * object's name, a UUID) is broken inside, never cut, so that no character of it is lost.
 */

// The colour codes chalk writes: they take no room on the screen.
// eslint-disable-next-line no-control-regex -- matching the escape character is the point
const SGR = /\u001b\[[0-9;]*m/y;

/** Characters a terminal draws two cells wide, as string-width (which cli-table3 measures with) counts them. */
function isWide(code: number): boolean {
  return (
    code >= 0x1100 &&
    (code <= 0x115f ||
      code === 0x2329 ||
      code === 0x232a ||
      (code >= 0x2e80 && code <= 0x3247 && code !== 0x303f) ||
      (code >= 0x3250 && code <= 0x4dbf) ||
      (code >= 0x4e00 && code <= 0xa4c6) ||
      (code >= 0xa960 && code <= 0xa97c) ||
      (code >= 0xac00 && code <= 0xd7a3) ||
      (code >= 0xf900 && code <= 0xfaff) ||
      (code >= 0xfe10 && code <= 0xfe19) ||
      (code >= 0xfe30 && code <= 0xfe6b) ||
      (code >= 0xff01 && code <= 0xff60) ||
      (code >= 0xffe0 && code <= 0xffe6) ||
      (code >= 0x1b000 && code <= 0x1b001) ||
      (code >= 0x1f200 && code <= 0x1f251) ||
      (code >= 0x1f300 && code <= 0x1faff) ||
      (code >= 0x20000 && code <= 0x3fffd))
  );
}

function charWidth(char: string): number {
  const code = char.codePointAt(0) ?? 0;
  if (code <= 0x1f || (code >= 0x7f && code <= 0x9f)) return 0;
  // Combining marks, the zero-width joiner and the variation selectors add nothing to the width.
  if ((code >= 0x300 && code <= 0x36f) || code === 0x200d || (code >= 0xfe00 && code <= 0xfe0f)) return 0;
  return isWide(code) ? 2 : 1;
}

/** The pieces of a string: colour codes (width 0) and single characters (code points). */
function pieces(text: string): { text: string; width: number }[] {
  const out: { text: string; width: number }[] = [];
  let i = 0;
  while (i < text.length) {
    SGR.lastIndex = i;
    const code = SGR.exec(text);
    if (code) {
      out.push({ text: code[0], width: 0 });
      i += code[0].length;
      continue;
    }
    const char = String.fromCodePoint(text.codePointAt(i) ?? 0);
    out.push({ text: char, width: charWidth(char) });
    i += char.length;
  }
  return out;
}

/** How many terminal cells a line takes: colour codes count nothing, wide characters two. */
export function displayWidth(text: string): number {
  return pieces(text).reduce((sum, p) => sum + p.width, 0);
}

/** After these a long word breaks most naturally: `public.` `token_usage_` `a1b2-`. */
const BREAK_AFTER = new Set(['.', ',', '_', '-', '/', ':', ')', ']', '}', ';']);

/**
 * A word too long for one line, in lines of at most `width` cells; the first may be shorter (`first`
 * cells are left on the current line). A break goes after punctuation in the last part of the line
 * when there is some, else where the line is full.
 */
function breakWord(word: string, first: number, width: number): string[] {
  const parts = pieces(word);
  const lines: string[] = [];
  let room = first;
  let start = 0;
  while (start < parts.length) {
    let used = 0;
    let end = start;
    let lastBreak = -1;
    while (end < parts.length && used + (parts[end]?.width ?? 0) <= room) {
      used += parts[end]?.width ?? 0;
      if (BREAK_AFTER.has(parts[end]?.text ?? '')) lastBreak = end;
      end++;
    }
    if (end === start && room < width) {
      // Not even one character fits in what is left of the current line: begin on the next.
      lines.push('');
      room = width;
      continue;
    }
    // A character wider than the whole line still has to go somewhere: alone on its line.
    if (end === start) end = start + 1;
    const rest = parts.slice(end).reduce((sum, p) => sum + p.width, 0);
    if (end < parts.length && rest > 0 && lastBreak >= start && lastBreak - start + 1 >= Math.floor(room / 2)) end = lastBreak + 1;
    lines.push(parts.slice(start, end).map((p) => p.text).join(''));
    start = end;
    room = width;
  }
  return lines;
}

/** One line of text (no line feeds) in lines of at most `width` cells, continuation lines indented by `indent`. */
function wrapLine(line: string, width: number, indent: string): string[] {
  const out: string[] = [];
  const spaces = /^ */.exec(line)?.[0] ?? '';
  // An indent as wide as the line would leave no room for the text: the text goes first.
  const lead = spaces.length < width ? spaces : '';
  let current = lead;
  let currentWidth = lead.length;
  // Nothing but the indent on the current line yet: a word goes there without a space before it.
  let empty = true;
  const newLine = () => {
    out.push(current);
    current = indent;
    currentWidth = displayWidth(indent);
    empty = true;
  };
  const add = (text: string) => {
    const gap = empty ? '' : ' ';
    current += gap + text;
    currentWidth += gap.length + displayWidth(text);
    empty = false;
  };
  const indentWidth = displayWidth(indent);
  for (const word of line.slice(spaces.length).split(' ')) {
    const w = displayWidth(word);
    const gap = empty ? 0 : 1;
    if (currentWidth + gap + w <= width) add(word);
    else if (indentWidth + w <= width) {
      newLine();
      add(word);
    } else {
      // Longer than any line: start it here when a useful share fits, else on a line of its own.
      if (!empty && width - currentWidth - 1 < Math.min(8, w)) newLine();
      const room = width - currentWidth - (empty ? 0 : 1);
      breakWord(word, Math.max(1, room), Math.max(1, width - indentWidth)).forEach((piece, i) => {
        if (i > 0) newLine();
        add(piece);
      });
    }
  }
  out.push(current);
  return out;
}

/**
 * Text in lines of at most `width` cells. Existing line feeds are kept; a line is broken at a space, and a
 * word longer than a line is broken inside it, so every character stays. `indent` starts each line a
 * break made (not the text's own lines).
 */
export function wrapText(text: string, width: number, indent = ''): string {
  const safeIndent = displayWidth(indent) < width ? indent : '';
  return text
    .split('\n')
    .flatMap((line) => wrapLine(line, Math.max(1, width), safeIndent))
    .join('\n');
}

/**
 * Parts of one line (`a · b · c`) in lines of at most `width` cells: a line breaks between parts, after
 * the separator's mark, so that a part stays whole when it fits a line; a part longer than a line is
 * wrapped as text. `style` colours the separator.
 */
export function wrapParts(parts: string[], width: number, indent = '', separator = ' · ', style: (s: string) => string = (s) => s): string {
  const lines: string[] = [];
  const tail = separator.trimEnd();
  let current = '';
  parts.forEach((part, i) => {
    const last = i === parts.length - 1;
    const after = last ? '' : tail;
    if (i === 0) current = part;
    else if (displayWidth(current) + displayWidth(separator) + displayWidth(part) + displayWidth(after) <= width) current += style(separator) + part;
    else {
      lines.push(current + style(tail));
      current = indent + part;
    }
    // A part wider than a line: wrapped (leaving room for the separator's mark), and the parts after it
    // follow its last line.
    if (displayWidth(current) + displayWidth(after) > width) {
      const wrapped = wrapText(current, Math.max(1, width - displayWidth(after)), indent).split('\n');
      current = wrapped.pop() ?? '';
      lines.push(...wrapped);
    }
  });
  lines.push(current);
  return lines.join('\n');
}
