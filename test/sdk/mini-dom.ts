/**
 * Just enough of a DOM for react-dom to render into (elements, text, attributes, styles,
 * listeners) — the repository has no jsdom, and the SDK's components need nothing more.
 * Also makes the SDK see a browser (`window` and `document` exist).
 */
export class MiniNode {
  childNodes: MiniNode[] = [];
  parentNode: MiniNode | null = null;
  attributes = new Map<string, string>();
  style: Record<string, string> & { setProperty?: (name: string, value: string) => void } = {};
  nodeValue: string | null = null;
  readonly namespaceURI = 'http://www.w3.org/1999/xhtml';

  constructor(
    readonly nodeType: number,
    readonly nodeName: string,
    readonly ownerDocument: MiniDocument | null,
  ) {
    this.style.setProperty = (name, value) => (this.style[name] = value);
  }
  get tagName() {
    return this.nodeName;
  }
  get firstChild() {
    return this.childNodes[0] ?? null;
  }
  get lastChild() {
    return this.childNodes.at(-1) ?? null;
  }
  get nextSibling(): MiniNode | null {
    const siblings = this.parentNode?.childNodes ?? [];
    return siblings[siblings.indexOf(this) + 1] ?? null;
  }
  get textContent(): string {
    return this.nodeType === 3 ? (this.nodeValue ?? '') : this.childNodes.map((c) => c.textContent).join('');
  }
  set textContent(text: string) {
    for (const child of this.childNodes) child.parentNode = null;
    this.childNodes = [];
    if (text) this.appendChild(this.ownerDocument!.createTextNode(text));
  }
  appendChild(child: MiniNode) {
    return this.insertBefore(child, null);
  }
  insertBefore(child: MiniNode, before: MiniNode | null) {
    child.parentNode?.removeChild(child);
    const at = before ? this.childNodes.indexOf(before) : -1;
    this.childNodes.splice(at < 0 ? this.childNodes.length : at, 0, child);
    child.parentNode = this;
    return child;
  }
  removeChild(child: MiniNode) {
    this.childNodes = this.childNodes.filter((c) => c !== child);
    child.parentNode = null;
    return child;
  }
  contains(node: MiniNode | null): boolean {
    for (let n = node; n; n = n.parentNode) if (n === this) return true;
    return false;
  }
  setAttribute(name: string, value: unknown) {
    this.attributes.set(name, String(value));
  }
  getAttribute(name: string) {
    return this.attributes.get(name) ?? null;
  }
  hasAttribute(name: string) {
    return this.attributes.has(name);
  }
  removeAttribute(name: string) {
    this.attributes.delete(name);
  }
  addEventListener() {}
  removeEventListener() {}
  /** Every element below this one (depth first) for which `test` holds. */
  findAll(test: (node: MiniNode) => boolean): MiniNode[] {
    return this.childNodes.flatMap((c) => [...(test(c) ? [c] : []), ...c.findAll(test)]);
  }
}

export class MiniDocument extends MiniNode {
  readonly documentElement: MiniNode;
  readonly body: MiniNode;
  activeElement: MiniNode | null = null;
  visibilityState = 'visible';
  constructor() {
    super(9, '#document', null);
    this.documentElement = this.appendChild(this.createElement('html'));
    this.body = this.documentElement.appendChild(this.createElement('body'));
  }
  createElement(tag: string) {
    return new MiniNode(1, tag.toUpperCase(), this);
  }
  createElementNS(_ns: string, tag: string) {
    return this.createElement(tag);
  }
  createTextNode(text: string) {
    const node = new MiniNode(3, '#text', this);
    node.nodeValue = text;
    return node;
  }
  createComment(text: string) {
    const node = new MiniNode(8, '#comment', this);
    node.nodeValue = text;
    return node;
  }
}

/** Installs `window` and `document`; returns the document and a function that removes them. */
export function installMiniDom(): { document: MiniDocument; uninstall: () => void } {
  const document = new MiniDocument();
  const globals = globalThis as Record<string, unknown>;
  globals.document = document;
  globals.window = { document, addEventListener() {}, removeEventListener() {}, HTMLIFrameElement: class {}, event: undefined };
  return {
    document,
    uninstall: () => {
      delete globals.document;
      delete globals.window;
    },
  };
}
