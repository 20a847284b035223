/**
 * dogestry.cfg edited the way `git remote` edits .git/config: line by line, so comments, blank
 * lines, order and unknown keys stay as the user wrote them. Only the lines a change touches
 * are rewritten.
 */
import { ConfigError } from '@dogestry/core/errors';

const SECTION = /^\s*\[([^\]]+)\]\s*(?:[;#].*)?$/;
const ENTRY = /^\s*([^=;#\s][^=]*?)\s*=\s*(.*?)\s*$/;
const COMMENT = /^\s*([;#].*)?$/;

export type Sections = Record<string, Record<string, string>>;

export class IniDocument {
  private constructor(
    private lines: string[],
    private readonly source: string,
  ) {}

  /**
   * Parse, refusing what would be misread: a line that is neither a section, a `key = value`
   * nor a comment; a key before any section; a section or a key given twice.
   */
  static parse(text: string, source: string): IniDocument {
    const doc = new IniDocument(text.split(/\r?\n/), source);
    doc.sections();
    return doc;
  }

  /** Every section with its keys (values unquoted). */
  sections(): Sections {
    const result: Sections = {};
    let current: Record<string, string> | undefined;
    let currentName = '';
    for (const [i, line] of this.lines.entries()) {
      const where = `${this.source}:${i + 1}`;
      const section = SECTION.exec(line);
      if (section) {
        currentName = normalizeSectionName(section[1] as string);
        if (result[currentName]) throw new ConfigError(`${where}: [${currentName}] appears twice; merge the two sections`);
        current = result[currentName] = {};
        continue;
      }
      if (COMMENT.test(line)) continue;
      const entry = ENTRY.exec(line);
      if (!entry)
        throw new ConfigError(`${where}: cannot read ${JSON.stringify(line.trim())}: expected [section], key = value, or a # comment`);
      if (!current) throw new ConfigError(`${where}: ${entry[1]} comes before any [section]`);
      const key = entry[1] as string;
      if (key in current) throw new ConfigError(`${where}: ${key} is set twice in [${currentName}]`);
      current[key] = unquote(entry[2] as string);
    }
    return result;
  }

  has(section: string): boolean {
    return this.find(section) !== undefined;
  }

  /** Append a section with its keys at the end, after one blank line. */
  addSection(section: string, entries: Record<string, string>): void {
    while (this.lines.length > 0 && this.lines[this.lines.length - 1] === '') this.lines.pop();
    if (this.lines.length > 0) this.lines.push('');
    this.lines.push(`[${section}]`, ...Object.entries(entries).map(([k, v]) => `${k} = ${v}`), '');
  }

  /** Remove a section: its header, its keys and the comments inside it, up to the next section. */
  removeSection(section: string): void {
    const range = this.range(section);
    this.lines.splice(range.start, range.end - range.start);
  }

  renameSection(from: string, to: string): void {
    const { start } = this.range(from);
    this.lines[start] = `[${to}]`;
  }

  /** Set a key: its line is replaced where it is, or a new line follows the section's last key. */
  set(section: string, key: string, value: string): void {
    const { start, end } = this.range(section);
    let last = start;
    for (let i = start + 1; i < end; i++) {
      const entry = ENTRY.exec(this.lines[i] as string);
      if (!entry || COMMENT.test(this.lines[i] as string)) continue;
      if (entry[1] === key) {
        this.lines[i] = `${key} = ${value}`;
        return;
      }
      last = i;
    }
    this.lines.splice(last + 1, 0, `${key} = ${value}`);
  }

  toString(): string {
    const text = this.lines.join('\n');
    return text.endsWith('\n') ? text : `${text}\n`;
  }

  private find(section: string): number | undefined {
    const i = this.lines.findIndex((line) => {
      const match = SECTION.exec(line);
      return match !== null && normalizeSectionName(match[1] as string) === section;
    });
    return i < 0 ? undefined : i;
  }

  private range(section: string): { start: number; end: number } {
    const start = this.find(section);
    if (start === undefined) throw new ConfigError(`no [${section}] in ${this.source}`);
    let end = start + 1;
    while (end < this.lines.length && !SECTION.test(this.lines[end] as string)) end++;
    // Leave a comment block that introduces the next section with that section.
    while (end - 1 > start && COMMENT.test(this.lines[end - 1] as string) && (this.lines[end - 1] as string).trim() !== '') end--;
    return { start, end };
  }
}

/** `remote  "x"` and `remote "x"` are one section. */
function normalizeSectionName(name: string): string {
  const match = /^\s*(\S+)\s+"(.*)"\s*$/.exec(name);
  return match ? `${match[1]} "${match[2]}"` : name.trim();
}

function unquote(value: string): string {
  const quoted = /^"(.*)"$/.exec(value) ?? /^'(.*)'$/.exec(value);
  return quoted ? (quoted[1] as string) : value;
}
