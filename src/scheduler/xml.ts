// A small ordered element tree on top of fast-xml-parser, so the rest of the
// scheduler can walk the CIB without caring about the parser's output shape.
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export interface XmlElement {
  readonly tag: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
}

export class CibError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CibError';
  }
}

type Raw = Record<string, unknown>;

function convert(raw: Raw): XmlElement | undefined {
  let tag: string | undefined;
  for (const key of Object.keys(raw)) {
    if (key !== ':@' && key !== '#text' && key !== '?xml') tag = key;
  }
  if (tag === undefined) return undefined;
  const attrsRaw = (raw[':@'] ?? {}) as Record<string, unknown>;
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrsRaw)) attrs[k.startsWith('@_') ? k.slice(2) : k] = String(v);
  const kids = (raw[tag] ?? []) as Raw[];
  const children: XmlElement[] = [];
  for (const k of kids) {
    const c = convert(k);
    if (c) children.push(c);
  }
  return { tag, attrs, children };
}

/** Parses XML text into an element tree; malformed XML throws CibError with the line. */
export function parseXml(text: string, source = 'CIB'): XmlElement {
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    const e = valid.err;
    throw new CibError(`${source}:${e.line}:${e.col}: malformed XML: ${e.msg}`);
  }
  const parser = new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    parseAttributeValue: false,
    parseTagValue: false,
    // Attribute values are kept exactly: digests hash them as written (trailing spaces included).
    trimValues: false,
    processEntities: true,
  });
  const out = parser.parse(text) as Raw[];
  for (const r of out) {
    const el = convert(r);
    if (el) return el;
  }
  throw new CibError(`${source}: no root element`);
}

export function child(el: XmlElement, tag: string): XmlElement | undefined {
  return el.children.find((c) => c.tag === tag);
}

export function childrenOf(el: XmlElement, tag: string): XmlElement[] {
  return el.children.filter((c) => c.tag === tag);
}

export function describe(el: XmlElement): string {
  return el.attrs['id'] !== undefined ? `<${el.tag} id="${el.attrs['id']}">` : `<${el.tag}>`;
}
