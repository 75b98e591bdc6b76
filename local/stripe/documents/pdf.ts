// A tiny PDF 1.4 writer: text lines on A4 pages in the standard Helvetica fonts
// (no embedding), with a correct cross-reference table, so any viewer opens it.

export interface PdfLine {
  text: string;
  /** Points; default 10. */
  size?: number;
  bold?: boolean;
  /** Right-aligned text placed so it ends at this x (points); else left at `x`. */
  alignRightAt?: number;
  /** Left x in points; default the left margin. */
  x?: number;
  /** Extra space above the line, in points. */
  gap?: number;
  /** Stays on the same baseline as the previous line (a second column). */
  sameLine?: boolean;
}

const PAGE_W = 595;
const PAGE_H = 842;
const MARGIN = 56;

/** PDF strings are bytes: keep Latin-1, escape the delimiters, replace the rest. */
function pdfString(s: string): string {
  let out = '';
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 63;
    const c = code > 255 || code < 32 ? '?' : ch;
    out += c === '(' || c === ')' || c === '\\' ? `\\${c}` : c;
  }
  return `(${out})`;
}

/** Helvetica's average glyph width is about half the font size; enough to right-align figures. */
function approxWidth(text: string, size: number): number {
  let w = 0;
  for (const ch of text) w += /[0-9$.,]/.test(ch) ? 0.556 : /[A-Z]/.test(ch) ? 0.667 : /[ il.]/.test(ch) ? 0.278 : 0.5;
  return w * size;
}

function pageContents(lines: PdfLine[]): string[] {
  const pages: string[] = [];
  let ops: string[] = [];
  let y = PAGE_H - MARGIN;
  for (const line of lines) {
    const size = line.size ?? 10;
    if (!line.sameLine) y -= size * 1.4 + (line.gap ?? 0);
    if (y < MARGIN) {
      pages.push(ops.join('\n'));
      ops = [];
      y = PAGE_H - MARGIN - size * 1.4;
    }
    const x = line.alignRightAt !== undefined ? line.alignRightAt - approxWidth(line.text, size) : (line.x ?? MARGIN);
    ops.push(`BT /${line.bold ? 'F2' : 'F1'} ${size} Tf ${x.toFixed(2)} ${y.toFixed(2)} Td ${pdfString(line.text)} Tj ET`);
  }
  pages.push(ops.join('\n'));
  return pages;
}

/** The PDF file (bytes) showing `lines`, titled `title`. */
export function pdfDocument(title: string, lines: PdfLine[]): Buffer {
  const pages = pageContents(lines);
  // Objects: 1 catalog, 2 pages, 3 Helvetica, 4 Helvetica-Bold, 5 info, then per page: page, contents.
  const objects: string[] = [];
  const pageIds = pages.map((_, i) => 6 + i * 2);
  objects[1] = '<< /Type /Catalog /Pages 2 0 R >>';
  objects[2] = `<< /Type /Pages /Kids [${pageIds.map((id) => `${id} 0 R`).join(' ')}] /Count ${pages.length} >>`;
  objects[3] = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>';
  objects[4] = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>';
  objects[5] = `<< /Title ${pdfString(title)} /Producer (local-stripe) >>`;
  pages.forEach((content, i) => {
    const id = pageIds[i] ?? 0;
    objects[id] =
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${PAGE_W} ${PAGE_H}] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents ${id + 1} 0 R >>`;
    objects[id + 1] = `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`;
  });

  // Header with a binary comment line, as the spec recommends for files with 8-bit bytes.
  let body = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  for (let id = 1; id < objects.length; id++) {
    offsets[id] = Buffer.byteLength(body, 'latin1');
    body += `${id} 0 obj\n${objects[id] ?? ''}\nendobj\n`;
  }
  const xref = Buffer.byteLength(body, 'latin1');
  body += `xref\n0 ${objects.length}\n0000000000 65535 f \n`;
  for (let id = 1; id < objects.length; id++) body += `${String(offsets[id]).padStart(10, '0')} 00000 n \n`;
  body += `trailer\n<< /Size ${objects.length} /Root 1 0 R /Info 5 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}
