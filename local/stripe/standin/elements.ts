// Elements of the stand-in: a labelled card form (Card number, Expiry, CVC)
// rendered in the page (no iframes), validated with the same card rules as
// the server (cards.ts), and the 3-D Secure challenge dialog.
import { brandOf, luhnValid } from '../cards.js';
import { integrationError } from './api.js';

export interface ValidationError {
  type: 'validation_error';
  code: string;
  message: string;
}

interface CardState {
  number: string;
  expiry: string;
  cvc: string;
}

export interface CardInput {
  number: string;
  exp_month: number;
  exp_year: number;
  cvc: string;
}

type Listener = (payload: unknown) => void;

let uid = 0;
function nextId(): string {
  uid += 1;
  return `ls${uid}`;
}

function digits(s: string | null | undefined): string {
  return String(s ?? '').replace(/\D/g, '');
}

function parseExpiry(value: string): { month: number; year: number } | null {
  const d = digits(value);
  if (d.length < 4) return null;
  return { month: Number(d.slice(0, 2)), year: 2000 + Number(d.slice(2, 4)) };
}

function validationError(code: string, message: string): ValidationError {
  return { type: 'validation_error', code, message };
}

/** Digits a complete number of this brand has (Stripe.js waits for them before judging). */
function fullLength(number: string): number {
  const brand = brandOf(number);
  if (brand === 'amex') return 15;
  if (brand === 'diners' && number.length === 14) return 14;
  return 16;
}

/** First problem with the card fields, or null when complete. */
function cardProblem(state: CardState): ValidationError | null {
  const number = digits(state.number);
  if (number.length === 0 || number.length < fullLength(number))
    return validationError('incomplete_number', 'Your card number is incomplete.');
  if (!luhnValid(number)) return validationError('invalid_number', 'Your card number is invalid.');
  const exp = parseExpiry(state.expiry);
  if (!exp) return validationError('incomplete_expiry', "Your card's expiration date is incomplete.");
  if (exp.month < 1 || exp.month > 12) return validationError('invalid_expiry_month', "Your card's expiration date is invalid.");
  const now = new Date();
  if (exp.year < now.getFullYear() || (exp.year === now.getFullYear() && exp.month < now.getMonth() + 1)) {
    return validationError('invalid_expiry_year_past', "Your card's expiration year is in the past.");
  }
  if (digits(state.cvc).length < 3) return validationError('incomplete_cvc', "Your card's security code is incomplete.");
  return null;
}

const STYLE =
  '.ls-element{font:14px system-ui,sans-serif;display:grid;gap:8px}' +
  '.ls-element label{display:block;font-size:13px;margin-bottom:2px;color:#30313d}' +
  '.ls-element input{box-sizing:border-box;width:100%;padding:8px;border:1px solid #c7c9d1;border-radius:4px;font:inherit}' +
  '.ls-element .ls-row{display:grid;grid-template-columns:1fr 1fr;gap:8px}' +
  '.ls-element .ls-error{color:#df1b41;font-size:13px;min-height:1em}' +
  '.ls-element .ls-note{color:#6d6e78;font-size:12px}' +
  '.ls-overlay{position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;align-items:center;justify-content:center;z-index:2147483647}' +
  '.ls-dialog{background:#fff;border-radius:8px;padding:24px;max-width:360px;font:14px system-ui,sans-serif}' +
  '.ls-dialog button{margin-right:8px;padding:8px 16px;font:inherit}';

function injectStyle(): void {
  if (document.getElementById('local-stripe-style')) return;
  const style = document.createElement('style');
  style.id = 'local-stripe-style';
  style.textContent = STYLE;
  document.head.appendChild(style);
}

function field(id: string, label: string, attrs: Record<string, string>): { wrap: HTMLDivElement; input: HTMLInputElement } {
  const wrap = document.createElement('div');
  const l = document.createElement('label');
  l.htmlFor = id;
  l.textContent = label;
  const input = document.createElement('input');
  input.id = id;
  for (const [k, v] of Object.entries(attrs)) input.setAttribute(k, v);
  wrap.appendChild(l);
  wrap.appendChild(input);
  return { wrap, input };
}

function formatNumber(value: string): string {
  return digits(value)
    .slice(0, 19)
    .replace(/(\d{4})(?=\d)/g, '$1 ');
}

function formatExpiry(value: string): string {
  const d = digits(value).slice(0, 4);
  return d.length > 2 ? `${d.slice(0, 2)} / ${d.slice(2)}` : d;
}

export class Element {
  private listeners: Record<string, Listener[]> = {};
  private state: CardState = { number: '', expiry: '', cvc: '' };
  private node: HTMLElement | null = null;
  private inputs: Record<keyof CardState, HTMLInputElement> | null = null;
  private errorNode: HTMLElement | null = null;
  private ready = false;
  private destroyed = false;

  constructor(
    private readonly group: Elements,
    readonly type: string,
    private options: Record<string, unknown> = {},
  ) {}

  private emit(event: string, payload: unknown): void {
    for (const h of (this.listeners[event] ?? []).slice()) h(payload);
  }

  on(event: string, handler: Listener): this {
    (this.listeners[event] ??= []).push(handler);
    // A 'ready' listener added after the element became ready still hears it.
    if (event === 'ready' && this.ready) setTimeout(() => handler({ elementType: this.type }), 0);
    return this;
  }

  addEventListener(event: string, handler: Listener): this {
    return this.on(event, handler);
  }

  off(event: string, handler?: Listener): this {
    const list = this.listeners[event];
    if (!list) return this;
    this.listeners[event] = handler ? list.filter((h) => h !== handler) : [];
    return this;
  }

  removeEventListener(event: string, handler?: Listener): this {
    return this.off(event, handler);
  }

  once(event: string, handler: Listener): this {
    const wrapper: Listener = (payload) => {
      this.off(event, wrapper);
      handler(payload);
    };
    return this.on(event, wrapper);
  }

  private changePayload(): Record<string, unknown> {
    const problem = cardProblem(this.state);
    const empty = !this.state.number && !this.state.expiry && !this.state.cvc;
    const payload: Record<string, unknown> = { elementType: this.type, empty, complete: !problem };
    if (this.type === 'payment') {
      payload.collapsed = false;
      payload.value = { type: 'card' };
    } else {
      payload.brand = brandOf(digits(this.state.number));
      payload.value = { postalCode: '' };
    }
    // Like Stripe, only report an error once the field content is definitely wrong.
    if (problem && !problem.code.startsWith('incomplete')) payload.error = problem;
    return payload;
  }

  private showError(error: ValidationError | null | undefined): void {
    if (this.errorNode) this.errorNode.textContent = error ? error.message : '';
  }

  mount(target: string | HTMLElement): void {
    const node = typeof target === 'string' ? document.querySelector(target) : target;
    if (!node)
      throw integrationError(
        `The selector you specified (${typeof target === 'string' ? target : target.tagName}) applies to no DOM elements.`,
      );
    if (this.destroyed) throw integrationError('This Element has already been destroyed. Please create a new one.');
    injectStyle();
    const id = nextId();
    const root = document.createElement('div');
    root.className = 'ls-element';
    root.setAttribute('data-local-stripe-element', this.type);
    const number = field(`${id}-number`, 'Card number', {
      name: 'cardnumber',
      autocomplete: 'cc-number',
      inputmode: 'numeric',
      placeholder: '1234 1234 1234 1234',
    });
    const row = document.createElement('div');
    row.className = 'ls-row';
    const expiry = field(`${id}-expiry`, 'Expiry', {
      name: 'exp-date',
      autocomplete: 'cc-exp',
      inputmode: 'numeric',
      placeholder: 'MM / YY',
    });
    const cvc = field(`${id}-cvc`, 'CVC', { name: 'cvc', autocomplete: 'cc-csc', inputmode: 'numeric', placeholder: 'CVC' });
    row.appendChild(expiry.wrap);
    row.appendChild(cvc.wrap);
    const error = document.createElement('div');
    error.className = 'ls-error';
    error.setAttribute('role', 'alert');
    const note = document.createElement('div');
    note.className = 'ls-note';
    note.textContent = 'Local Stripe test card form. Try 4242 4242 4242 4242, any future date, any CVC.';
    root.append(number.wrap, row, error, note);
    this.errorNode = error;
    this.inputs = { number: number.input, expiry: expiry.input, cvc: cvc.input };
    const bind = (name: keyof CardState, format: (v: string) => string): void => {
      const input = this.inputs?.[name];
      if (!input) return;
      input.value = format(this.state[name]);
      input.addEventListener('input', () => {
        input.value = format(input.value);
        this.state[name] = input.value;
        const payload = this.changePayload();
        this.showError(payload.error as ValidationError | undefined);
        this.emit('change', payload);
      });
      input.addEventListener('focus', () => this.emit('focus', { elementType: this.type }));
      input.addEventListener('blur', () => this.emit('blur', { elementType: this.type }));
    };
    bind('number', formatNumber);
    bind('expiry', formatExpiry);
    bind('cvc', (v) => digits(v).slice(0, 4));
    this.applyOptions();
    node.appendChild(root);
    this.node = root;
    setTimeout(() => {
      if (this.node !== root) return;
      this.ready = true;
      this.emit('ready', { elementType: this.type });
    }, 0);
  }

  private applyOptions(): void {
    if (!this.inputs) return;
    for (const input of Object.values(this.inputs)) input.disabled = this.options.disabled === true;
  }

  update(options?: Record<string, unknown>): void {
    Object.assign(this.options, options ?? {});
    this.applyOptions();
  }

  unmount(): void {
    this.node?.parentNode?.removeChild(this.node);
    this.node = null;
    this.ready = false;
  }

  destroy(): void {
    this.unmount();
    this.destroyed = true;
    this.listeners = {};
    this.group.remove(this);
  }

  focus(): void {
    this.inputs?.number.focus();
  }

  blur(): void {
    const active = document.activeElement as HTMLElement | null;
    if (this.inputs && active?.blur) active.blur();
  }

  clear(): void {
    this.state = { number: '', expiry: '', cvc: '' };
    if (this.inputs) for (const input of Object.values(this.inputs)) input.value = '';
  }

  collapse(): void {}

  /** Validates and shows the first problem; returns it (or null). */
  validate(): ValidationError | null {
    const problem = cardProblem(this.state);
    this.showError(problem);
    return problem;
  }

  card(): CardInput {
    const exp = parseExpiry(this.state.expiry) ?? { month: 0, year: 0 };
    return { number: digits(this.state.number), exp_month: exp.month, exp_year: exp.year, cvc: digits(this.state.cvc) };
  }
}

export class Elements {
  readonly options: Record<string, unknown>;
  private list: Element[] = [];
  submitted = false;

  constructor(options?: Record<string, unknown>) {
    this.options = { ...(options ?? {}) };
  }

  create(type: string, options?: Record<string, unknown>): Element {
    if (this.getElement(type)) throw integrationError(`Can only create one Element of type ${type}.`);
    const element = new Element(this, type, options);
    this.list.push(element);
    return element;
  }

  getElement(type: string): Element | null {
    return this.list.find((e) => e.type === type) ?? null;
  }

  remove(element: Element): void {
    this.list = this.list.filter((e) => e !== element);
  }

  cardElement(): Element | null {
    return this.getElement('payment') ?? this.getElement('card');
  }

  update(options?: Record<string, unknown>): void {
    Object.assign(this.options, options ?? {});
  }

  fetchUpdates(): Promise<object> {
    return Promise.resolve({});
  }

  on(): this {
    return this;
  }

  off(): this {
    return this;
  }

  /** Validates the form (required before confirming in the deferred-intent flow). */
  submit(): Promise<{ error: ValidationError } | { selectedPaymentMethod: string }> {
    const element = this.cardElement();
    if (!element) return Promise.resolve({ error: validationError('incomplete', 'No payment Element is mounted.') });
    const problem = element.validate();
    if (problem) return Promise.resolve({ error: problem });
    this.submitted = true;
    return Promise.resolve({ selectedPaymentMethod: 'card' });
  }
}

/** The issuer's challenge: resolves 'succeed' (Complete) or 'fail' (Fail). */
export function challenge(purpose: string): Promise<'succeed' | 'fail'> {
  injectStyle();
  return new Promise((resolve) => {
    const overlay = document.createElement('div');
    overlay.className = 'ls-overlay';
    const dialog = document.createElement('div');
    dialog.className = 'ls-dialog';
    dialog.setAttribute('role', 'dialog');
    dialog.setAttribute('aria-modal', 'true');
    dialog.setAttribute('aria-labelledby', 'ls-3ds-title');
    const title = document.createElement('h2');
    title.id = 'ls-3ds-title';
    title.textContent = '3D Secure authentication';
    const text = document.createElement('p');
    text.textContent = `Local Stripe test challenge for ${purpose}.`;
    dialog.append(title, text);
    for (const [label, outcome] of [
      ['Complete', 'succeed'],
      ['Fail', 'fail'],
    ] as const) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = label;
      button.addEventListener('click', () => {
        overlay.remove();
        resolve(outcome);
      });
      dialog.appendChild(button);
    }
    overlay.appendChild(dialog);
    document.body.appendChild(overlay);
  });
}
