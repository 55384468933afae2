import { XMLParser } from 'fast-xml-parser';

/** One drawn element of a vega SVG, with its position on the canvas (ancestors' translates added up). */
export interface DrawnItem {
  tag: string;
  /** The class of the nearest enclosing <g>: "mark-symbol role-mark …", "mark-text role-axis-label", … */
  group: string;
  x: number;
  y: number;
  text: string;
  ariaLabel: string | undefined;
  /** Path data of a <path> (bars: "M x,y h w v h h -w Z"). */
  d: string | undefined;
  visible: boolean;
}

export interface DrawnAxis {
  title: string;
  /** Visible tick labels (labelOverlap hides some by opacity 0), left to right or top to bottom. */
  labels: Array<{ text: string; x: number; y: number }>;
}

type Node = Record<string, unknown>;

const translate = (t: unknown): [number, number] => {
  const m = /translate\(\s*([-\d.e]+)[ ,]+([-\d.e]+)\s*\)/.exec(String(t ?? ''));
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
};

/**
 * What a vega SVG draws, read back with a real XML parser: texts, marks and
 * axes with their canvas positions, so a test asserts on the picture (the
 * labels a person reads, where a mark sits) rather than on the spec.
 */
export class ChartSvg {
  readonly items: DrawnItem[] = [];
  readonly axes: DrawnAxis[] = [];

  constructor(svg: string) {
    const parser = new XMLParser({ preserveOrder: true, ignoreAttributes: false, attributeNamePrefix: '', trimValues: false });
    const tree = parser.parse(svg) as Node[];
    this.walk(tree, 0, 0, '', true, undefined);
  }

  /** Every text drawn and visible, in document order. */
  texts(): string[] {
    return this.items.filter((i) => i.tag === 'text' && i.visible).map((i) => i.text);
  }

  /** Items of a mark group, e.g. "mark-symbol" or "mark-rect", optionally of one layer ("layer_3_marks"). */
  marks(kind: string, layer?: string): DrawnItem[] {
    return this.items.filter((i) => i.tag === 'path' && i.group.split(' ').includes(kind) && i.group.includes('role-mark') && (!layer || i.group.includes(layer)));
  }

  axis(title: string): DrawnAxis {
    const a = this.axes.find((x) => x.title === title);
    if (!a) throw new Error(`no axis titled "${title}"; axes: ${this.axes.map((x) => JSON.stringify(x.title)).join(', ')}`);
    return a;
  }

  private walk(nodes: Node[], ox: number, oy: number, group: string, visible: boolean, axis: DrawnAxis | undefined): void {
    for (const node of nodes) {
      const tag = Object.keys(node).find((k) => k !== ':@');
      if (!tag || tag === '#text') continue;
      const attrs = (node[':@'] ?? {}) as Record<string, string>;
      const [tx, ty] = translate(attrs.transform);
      const x = ox + tx, y = oy + ty;
      const shown = visible && attrs.opacity !== '0' && attrs.visibility !== 'hidden';
      const children = node[tag] as Node[];
      if (tag === 'g') {
        const cls = attrs.class ?? group;
        let ownAxis = axis;
        if (attrs.class?.includes('role-axis') && !attrs.class.includes('role-axis-')) {
          ownAxis = { title: '', labels: [] };
          this.axes.push(ownAxis);
        }
        this.walk(children, x, y, cls, shown, ownAxis);
        continue;
      }
      const text = tag === 'text' ? children.map((c) => String(c['#text'] ?? '')).join('') : '';
      this.items.push({ tag, group, x, y, text, ariaLabel: attrs['aria-label'], d: attrs.d, visible: shown });
      if (axis && tag === 'text' && shown) {
        if (group.includes('role-axis-title')) axis.title = text;
        else if (group.includes('role-axis-label')) axis.labels.push({ text, x, y });
      }
      if (children?.length && tag !== 'text') this.walk(children, x, y, group, shown, axis);
    }
  }
}

/**
 * A time axis's scale read back from two of its labels ("HH:MM" or "HH:MM:SS",
 * on the day of `dayStart`, a UTC midnight of the zone's wall clock):
 * wall-clock ms at a canvas x, and the span its labels cover.
 */
export function timeAxisScale(axis: DrawnAxis, dayStart: number): { timeAt: (x: number) => number; first: number; last: number } {
  const parse = (t: string) => {
    const m = /^(\d\d):(\d\d)(?::(\d\d))?$/.exec(t);
    if (!m) throw new Error(`time axis label "${t}" is not HH:MM[:SS]`);
    return dayStart + (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0)) * 1000;
  };
  const pts = axis.labels.map((l) => ({ x: l.x, t: parse(l.text) }));
  if (pts.length < 2) throw new Error(`time axis "${axis.title}" shows ${pts.length} label(s); two are needed to read its scale`);
  const a = pts[0]!, b = pts[pts.length - 1]!;
  const msPerPx = (b.t - a.t) / (b.x - a.x);
  return { timeAt: (x) => a.t + (x - a.x) * msPerPx, first: a.t, last: b.t };
}
