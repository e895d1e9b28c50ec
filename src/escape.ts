/**
 * Characters no human report prints raw, because a terminal, a log viewer or a chat client acts on them
 * instead of showing them: the C0 controls (ESC starts a sequence that can clear the screen or move the
 * cursor, CR returns to the start of the line so that what follows overwrites it), DEL, the C1 controls
 * (U+009B is a one-character CSI), the Unicode line and paragraph separators, and the bidirectional
 * embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) that reorder what is displayed.
 */
// eslint-disable-next-line no-control-regex -- matching the control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex -- as UNSAFE, but without the line feed
const UNSAFE_BUT_LF = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * A value from the database or the config (a name, a sample, an error, a reason), made safe to print: each
 * character a terminal would act on is written as a visible escape (`\x1b`, `\r`, `\n`, `\u2028`,
 * `\u202e`); everything else, backslashes included, is left as it is. Every human format (pretty,
 * markdown, GitHub annotations and step summary, JUnit text, the webhook's text, plan output) prints data
 * through this; JSON and SARIF carry the exact values.
 */
export function visible(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

/**
 * As `visible`, but keeps line feeds: for text whose lines the report itself laid out (an object's
 * name over several lines, a table cell), where every part was already passed through `visible`.
 */
export function visibleLines(text: string): string {
  return text.replace(UNSAFE_BUT_LF, escapeOne);
}

/** Slack's mrkdwn escaping, which Slack asks for in every `text`: `&`, `<` and `>` as entities. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
