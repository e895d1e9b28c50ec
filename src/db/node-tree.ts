/**
 * Reads PostgreSQL's pg_node_tree text (pg_index.indexprs, pg_constraint.conbin, pg_attrdef.adbin):
 * the serialized form the server itself stores, so checks can look at what an expression *is*
 * (operator and function OIDs, result types) rather than at how someone spelled it.
 */

export interface TreeNode {
  type: string;
  fields: Record<string, TreeValue>;
}

export interface TreeDatum {
  /** A Const's value: its length and raw bytes (0..255). */
  length: number;
  bytes: number[];
}

export type TreeValue = TreeNode | TreeValue[] | string | null | TreeDatum;

export function isNode(v: TreeValue | undefined): v is TreeNode {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'type' in v;
}

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === ' ' || ch === '\n' || ch === '\t' || ch === '\r') {
      i++;
    } else if (ch === '(' || ch === ')' || ch === '{' || ch === '}') {
      tokens.push(ch);
      i++;
    } else if (ch === '"') {
      let j = i + 1;
      let out = '"';
      while (j < text.length && text[j] !== '"') {
        if (text[j] === '\\' && j + 1 < text.length) j++;
        out += text[j];
        j++;
      }
      tokens.push(out);
      i = j + 1;
    } else {
      let out = '';
      while (i < text.length && !' \n\t\r(){}'.includes(text[i] as string)) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        out += text[i];
        i++;
      }
      tokens.push(out);
    }
  }
  return tokens;
}

class TreeParser {
  private pos = 0;
  constructor(private readonly tokens: string[]) {}

  parseValue(): TreeValue {
    const tok = this.tokens[this.pos++];
    if (tok === undefined) throw new Error('unexpected end of node tree');
    if (tok === '{') return this.parseNode();
    if (tok === '(') return this.parseList();
    if (tok === '<>') return null;
    if (this.tokens[this.pos] === '[') return this.parseDatum(tok);
    return tok.startsWith('"') ? tok.slice(1) : tok;
  }

  private parseNode(): TreeNode {
    const type = this.tokens[this.pos++] ?? '';
    const fields: Record<string, TreeValue> = {};
    while (this.pos < this.tokens.length && this.tokens[this.pos] !== '}') {
      const key = this.tokens[this.pos] as string;
      if (key.startsWith(':')) {
        this.pos++;
        const next = this.tokens[this.pos];
        fields[key.slice(1)] = next === undefined || next === '}' || next.startsWith(':') ? null : this.parseValue();
      } else {
        // Nodes such as a bare String or Integer carry a value without a field name.
        fields[`_${Object.keys(fields).length}`] = this.parseValue();
      }
    }
    this.pos++;
    return { type, fields };
  }

  private parseList(): TreeValue[] {
    const items: TreeValue[] = [];
    while (this.pos < this.tokens.length && this.tokens[this.pos] !== ')') items.push(this.parseValue());
    this.pos++;
    return items;
  }

  private parseDatum(lengthToken: string): TreeDatum {
    this.pos++; // '['
    const bytes: number[] = [];
    while (this.pos < this.tokens.length && this.tokens[this.pos] !== ']') {
      // outDatum prints each byte as a signed char.
      bytes.push(Number(this.tokens[this.pos++]) & 0xff);
    }
    this.pos++;
    return { length: Number(lengthToken), bytes };
  }
}

export function parseNodeTree(text: string): TreeValue {
  return new TreeParser(tokenize(text)).parseValue();
}

/** Depth-first walk over every node in a tree, parents before children. */
export function* walkNodes(value: TreeValue | undefined): Generator<TreeNode> {
  if (value === null || value === undefined || typeof value === 'string') return;
  if (Array.isArray(value)) {
    for (const v of value) yield* walkNodes(v);
    return;
  }
  if (!isNode(value)) return;
  yield value;
  for (const v of Object.values(value.fields)) yield* walkNodes(v);
}

function readVarlena(bytes: number[], offset: number): { payload: number[]; next: number } | null {
  const b0 = bytes[offset];
  if (b0 === undefined) return null;
  if ((b0 & 0x01) === 1) {
    if (b0 === 0x01) return null; // external TOAST pointer: never in a stored expression
    const len = b0 >> 1;
    return { payload: bytes.slice(offset + 1, offset + len), next: offset + len };
  }
  if ((b0 & 0x03) !== 0) return null; // compressed inline: not expected in a Const
  const len =
    ((b0 | ((bytes[offset + 1] ?? 0) << 8) | ((bytes[offset + 2] ?? 0) << 16) | ((bytes[offset + 3] ?? 0) << 24)) >>> 2);
  return { payload: bytes.slice(offset + 4, offset + len), next: offset + len };
}

function utf8(bytes: number[]): string {
  return Buffer.from(bytes).toString('utf8');
}

function int32At(bytes: number[], offset: number): number {
  return (bytes[offset] ?? 0) | ((bytes[offset + 1] ?? 0) << 8) | ((bytes[offset + 2] ?? 0) << 16) | ((bytes[offset + 3] ?? 0) << 24);
}

/** The text of a `text` Const, or the elements of a one-dimensional `text[]` Const; null otherwise. */
export function constText(node: TreeNode): string[] | null {
  if (node.type !== 'CONST' || node.fields.constisnull === 'true') return null;
  const datum = node.fields.constvalue;
  if (!datum || typeof datum !== 'object' || Array.isArray(datum) || isNode(datum)) return null;
  const type = node.fields.consttype;
  const bytes = (datum as TreeDatum).bytes;
  if (type === '25' || type === '1043' || type === '1042') {
    const v = readVarlena(bytes, 0);
    return v ? [utf8(v.payload)] : null;
  }
  if (type === '2950' && bytes.length >= 16) {
    const hex = bytes.slice(0, 16).map((b) => b.toString(16).padStart(2, '0')).join('');
    return [`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`];
  }
  if (type === '20') {
    // Pass-by-value integers are printed as the machine word, little-endian on every platform we run on.
    return [Buffer.from(bytes.slice(0, 8)).readBigInt64LE(0).toString()];
  }
  if (type === '23' || type === '21') return [String(int32At(bytes, 0))];
  if (type === '1009' || type === '1015') {
    // ArrayType: varlena header, ndim, dataoffset, elemtype, dims[ndim], lbound[ndim], [nulls], data.
    const ndim = int32At(bytes, 4);
    const dataOffset = int32At(bytes, 8);
    if (ndim === 0) return [];
    if (ndim !== 1) return null;
    const count = int32At(bytes, 16);
    let pos = dataOffset !== 0 ? dataOffset : (16 + 8 * ndim + 7) & ~7;
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      // Elements with a 4-byte header are int-aligned; padding bytes are zero.
      while (bytes[pos] === 0 && pos % 4 !== 0) pos++;
      const v = readVarlena(bytes, pos);
      if (!v) return null;
      out.push(utf8(v.payload));
      pos = v.next;
    }
    return out;
  }
  return null;
}
