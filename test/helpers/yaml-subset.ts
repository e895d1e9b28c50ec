/**
 * A reader for the YAML that GitHub's action and workflow files are written in, for tests: block mappings
 * and sequences, plain, quoted and block (| >) scalars, one-line flow collections, comments. Everything
 * else (anchors, aliases, tags, several documents, a plain scalar over several lines, tabs) is refused
 * with the line, so a file it misreads cannot pass a test: no YAML parser is among the dependencies.
 * Scalars stay strings, as the runner reads `required: true` and `default: 'true'` alike.
 */
export type Yaml = string | null | Yaml[] | { [key: string]: Yaml };

export class YamlSubsetError extends Error {}

interface Line {
  no: number;
  indent: number;
  text: string;
}

const KEY = /^([A-Za-z0-9_$][A-Za-z0-9_.$/-]*)\s*:(?:\s+(.*))?$/;
const BLOCK_SCALAR = /^([|>])([+-]?)$/;

export function parseYaml(source: string): Yaml {
  const raw = source.replace(/\r\n/g, '\n').split('\n');
  const lines: Line[] = raw.map((text, i) => {
    const indent = /^ */.exec(text)?.[0].length ?? 0;
    if (/^ *\t/.test(text)) throw new YamlSubsetError(`line ${i + 1}: a tab in the indentation`);
    return { no: i + 1, indent, text: text.slice(indent).replace(/\s+$/, '') };
  });
  const reader = new Reader(lines, raw);
  const value = reader.block(0);
  const rest = reader.peek();
  if (rest) throw new YamlSubsetError(`line ${rest.no}: unexpected indentation or content: ${rest.text}`);
  return value;
}

class Reader {
  private at = 0;
  constructor(
    private readonly lines: Line[],
    private readonly raw: string[],
  ) {}

  /** The next line that holds something (not blank, not only a comment). */
  peek(): Line | undefined {
    while (this.at < this.lines.length) {
      const line = this.lines[this.at];
      if (line && line.text !== '' && !line.text.startsWith('#')) {
        if (line.text === '---' || line.text === '...') throw new YamlSubsetError(`line ${line.no}: document markers are not supported`);
        return line;
      }
      this.at += 1;
    }
    return undefined;
  }

  block(minIndent: number): Yaml {
    const line = this.peek();
    if (!line || line.indent < minIndent) return null;
    return isSequenceItem(line.text) ? this.sequence(line.indent) : this.mapping(line.indent);
  }

  private mapping(indent: number): { [key: string]: Yaml } {
    const out: { [key: string]: Yaml } = {};
    for (let line = this.peek(); line && line.indent === indent && !isSequenceItem(line.text); line = this.peek()) {
      const m = KEY.exec(line.text);
      if (!m?.[1]) throw new YamlSubsetError(`line ${line.no}: expected "key: value": ${line.text}`);
      const key = m[1];
      if (Object.hasOwn(out, key)) throw new YamlSubsetError(`line ${line.no}: key ${key} appears twice`);
      this.at += 1;
      out[key] = this.valueAfterKey(m[2] ?? '', indent, line.no);
    }
    return out;
  }

  private sequence(indent: number): Yaml[] {
    const out: Yaml[] = [];
    for (let line = this.peek(); line && line.indent === indent && isSequenceItem(line.text); line = this.peek()) {
      const rest = line.text.replace(/^-\s*/, '');
      if (rest === '') {
        this.at += 1;
        out.push(this.block(indent + 1));
      } else if (KEY.test(rest)) {
        // "- key: value": the item is a mapping whose keys line up with this first one.
        line.indent += line.text.length - rest.length;
        line.text = rest;
        out.push(this.mapping(line.indent));
      } else {
        this.at += 1;
        out.push(inlineValue(rest, line.no));
      }
    }
    return out;
  }

  private valueAfterKey(rest: string, indent: number, no: number): Yaml {
    const block = BLOCK_SCALAR.exec(rest);
    if (block) return this.blockScalar(indent, block[1] === '>', block[2] ?? '');
    if (rest !== '' && !rest.startsWith('#')) return inlineValue(rest, no);
    const next = this.peek();
    if (!next) return null;
    // A sequence may sit at its key's own indentation; anything else nested is indented more.
    if (next.indent === indent && isSequenceItem(next.text)) return this.sequence(indent);
    return next.indent > indent ? this.block(indent + 1) : null;
  }

  private blockScalar(indent: number, folded: boolean, chomp: string): string {
    const body: string[] = [];
    let contentIndent: number | undefined;
    while (this.at < this.lines.length) {
      const line = this.lines[this.at];
      const text = this.raw[this.at] ?? '';
      if (!line) break;
      if (line.text !== '') {
        if (line.indent <= indent) break;
        contentIndent ??= line.indent;
        if (line.indent < contentIndent) throw new YamlSubsetError(`line ${line.no}: less indented than the block scalar's first line`);
      }
      body.push(line.text === '' ? '' : text.slice(contentIndent).replace(/\s+$/, ''));
      this.at += 1;
    }
    while (body.length > 0 && body[body.length - 1] === '') body.pop();
    const text = folded ? fold(body) : body.join('\n');
    if (chomp === '+') throw new YamlSubsetError('keep chomping (|+, >+) is not supported');
    return chomp === '-' || text === '' ? text : `${text}\n`;
  }
}

function isSequenceItem(text: string): boolean {
  return text === '-' || text.startsWith('- ');
}

/** `>`: lines joined by spaces, a blank line kept as a line break; more indented lines are not supported. */
function fold(lines: string[]): string {
  let out = '';
  let previousBlank = true;
  for (const line of lines) {
    if (line.startsWith(' ')) throw new YamlSubsetError('more indented lines in a folded scalar are not supported');
    if (line === '') {
      out += '\n';
      previousBlank = true;
    } else {
      out += previousBlank ? line : ` ${line}`;
      previousBlank = false;
    }
  }
  return out;
}

function inlineValue(text: string, no: number): Yaml {
  const flow = new Flow(text, no);
  const value = flow.value(false);
  flow.end();
  return value;
}

/** One line's value: a quoted or plain scalar, or a flow collection ({ a: b }, [a, b]), then at most a comment. */
class Flow {
  private i = 0;
  constructor(
    private readonly s: string,
    private readonly no: number,
  ) {}

  private fail(why: string): never {
    throw new YamlSubsetError(`line ${this.no}: ${why}: ${this.s}`);
  }

  private spaces(): void {
    while (this.s[this.i] === ' ') this.i += 1;
  }

  end(): void {
    this.spaces();
    if (this.i < this.s.length && this.s[this.i] !== '#') this.fail('unexpected text after the value');
  }

  value(inFlow: boolean): Yaml {
    this.spaces();
    const c = this.s[this.i];
    if (c === '{') return this.map();
    if (c === '[') return this.seq();
    if (c === '"') return this.doubleQuoted();
    if (c === "'") return this.singleQuoted();
    if (c !== undefined && '&*!%@`|>'.includes(c)) this.fail(`"${c}" (anchors, aliases, tags, reserved indicators) is not supported`);
    return this.plain(inFlow);
  }

  private plain(inFlow: boolean): string {
    const start = this.i;
    while (this.i < this.s.length) {
      const c = this.s[this.i];
      if (c === '#' && this.s[this.i - 1] === ' ') break;
      if (inFlow && (c === ',' || c === ']' || c === '}')) break;
      if (inFlow && c === ':' && (this.s[this.i + 1] === ' ' || this.s[this.i + 1] === undefined)) break;
      this.i += 1;
    }
    const text = this.s.slice(start, this.i).trim();
    if (text === '' && !inFlow) this.fail('an empty value');
    // YAML itself refuses this ("mapping values are not allowed here"): a reader that took it whole would pass a broken file.
    if (!inFlow && /:(\s|$)/.test(text)) this.fail('": " inside a plain scalar (quote it)');
    return text;
  }

  private doubleQuoted(): string {
    let out = '';
    const escapes: Record<string, string> = { n: '\n', t: '\t', '"': '"', '\\': '\\', '/': '/', '0': '\0' };
    for (this.i += 1; this.i < this.s.length; this.i += 1) {
      const c = this.s[this.i];
      if (c === '"') {
        this.i += 1;
        return out;
      }
      if (c === '\\') {
        this.i += 1;
        const e = escapes[this.s[this.i] ?? ''];
        if (e === undefined) this.fail('an escape this reader does not know');
        out += e;
      } else {
        out += c;
      }
    }
    return this.fail('an unterminated double-quoted scalar');
  }

  private singleQuoted(): string {
    let out = '';
    for (this.i += 1; this.i < this.s.length; this.i += 1) {
      const c = this.s[this.i];
      if (c === "'") {
        if (this.s[this.i + 1] === "'") {
          out += "'";
          this.i += 1;
          continue;
        }
        this.i += 1;
        return out;
      }
      out += c;
    }
    return this.fail('an unterminated single-quoted scalar');
  }

  private map(): { [key: string]: Yaml } {
    const out: { [key: string]: Yaml } = {};
    this.i += 1;
    for (;;) {
      this.spaces();
      if (this.s[this.i] === '}') {
        this.i += 1;
        return out;
      }
      const key = this.value(true);
      if (typeof key !== 'string' || key === '') this.fail('a flow mapping key that is not a scalar');
      this.spaces();
      if (this.s[this.i] !== ':') this.fail('expected ":" in a flow mapping');
      this.i += 1;
      if (Object.hasOwn(out, key)) this.fail(`key ${key} appears twice`);
      out[key] = this.value(true);
      this.spaces();
      if (this.s[this.i] === ',') this.i += 1;
      else if (this.s[this.i] !== '}') this.fail('expected "," or "}"');
    }
  }

  private seq(): Yaml[] {
    const out: Yaml[] = [];
    this.i += 1;
    for (;;) {
      this.spaces();
      if (this.s[this.i] === ']') {
        this.i += 1;
        return out;
      }
      out.push(this.value(true));
      this.spaces();
      if (this.s[this.i] === ',') this.i += 1;
      else if (this.s[this.i] !== ']') this.fail('expected "," or "]"');
    }
  }
}
