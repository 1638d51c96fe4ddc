// ansi.js -- log text into DOM nodes, safely.
//
// Owns: turning one untrusted message into text nodes and <span>s. Log
// text is attacker-controlled, so nothing here ever parses it as HTML:
// every character reaches the page through document.createTextNode.
//
// ANSI SGR sequences (ESC [ params m) become styled spans: bold, dim,
// italic, underline, inverse, the 16 standard colours (as classes, themed
// in style.css), 256-colour and 24-bit colours (set through the CSSOM,
// which the page's Content-Security-Policy allows; style= attributes it
// does not). Every other escape or control character is shown, not
// obeyed: ESC as "^[" followed by the rest of its sequence as plain text,
// other C0 controls and DEL in caret notation (^H, ^G, ^?), C1 controls
// (U+0080..U+009F, e.g. the 8-bit CSI) as "\x9b", each in a span.ctl that
// sets it apart from the same characters typed. Tabs stay tabs.
//
// Bounded work: a line gets at most MAX_SPANS styled spans (the rest of it
// is shown with its SGR sequences removed) and MAX_CONTROLS marked control
// characters (the rest are shown unmarked), so a hostile line cannot make
// thousands of nodes.

const ESC = '\x1b';
const MAX_SPANS = 256;    // styled spans a line may make
const MAX_CONTROLS = 512; // marked control characters a line may make
const SGR = /\x1b\[([0-9;]*)m/y; // sticky: matched exactly at lastIndex

// Control characters other than tab: C0, DEL and C1.
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

// Caret notation for C0 and DEL (ESC is ^[, as `cat -v` shows it), \xNN
// for C1: fonts rarely have the Control Pictures block, these always draw.
export function controlText(ch) {
  const code = ch.charCodeAt(0);
  if (code < 0x20) return '^' + String.fromCharCode(code + 0x40);
  if (code === 0x7f) return '^?';
  return '\\x' + code.toString(16);
}

// Appends text to target, each control character as a marked span
// (class "ctl", styled apart so "^[" cannot pass for the two characters).
function appendText(target, text, budget) {
  CONTROL.lastIndex = 0;
  let at = 0;
  for (let m = CONTROL.exec(text); m !== null; m = CONTROL.exec(text)) {
    if (m.index > at) target.appendChild(document.createTextNode(text.slice(at, m.index)));
    if (budget.controls > 0) {
      budget.controls--;
      const ctl = document.createElement('span');
      ctl.className = 'ctl';
      ctl.textContent = controlText(m[0]);
      ctl.title = 'control character 0x' + m[0].charCodeAt(0).toString(16).padStart(2, '0');
      target.appendChild(ctl);
    } else {
      target.appendChild(document.createTextNode(controlText(m[0])));
    }
    at = m.index + 1;
  }
  if (at < text.length) target.appendChild(document.createTextNode(text.slice(at)));
}

function newStyle() {
  return { bold: false, dim: false, italic: false, underline: false, inverse: false,
           fg: null, bg: null };
}

function isPlain(s) {
  return !s.bold && !s.dim && !s.italic && !s.underline && !s.inverse &&
         s.fg === null && s.bg === null;
}

// xterm's 256-colour palette above the 16 standard colours.
function color256(n) {
  if (n < 16) return n;
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v}, ${v}, ${v})`;
  }
  const i = n - 16;
  const level = (c) => (c === 0 ? 0 : 55 + c * 40);
  return `rgb(${level(Math.floor(i / 36))}, ${level(Math.floor(i / 6) % 6)}, ${level(i % 6)})`;
}

function byte(value) {
  return Number.isInteger(value) && value >= 0 && value <= 255;
}

// Applies one SGR parameter list to the style; unknown codes are ignored.
function applySgr(style, params) {
  const codes = params === '' ? [0] : params.split(';').map((p) => (p === '' ? 0 : Number(p)));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) Object.assign(style, newStyle());
    else if (c === 1) style.bold = true;
    else if (c === 2) style.dim = true;
    else if (c === 3) style.italic = true;
    else if (c === 4) style.underline = true;
    else if (c === 7) style.inverse = true;
    else if (c === 22) { style.bold = false; style.dim = false; }
    else if (c === 23) style.italic = false;
    else if (c === 24) style.underline = false;
    else if (c === 27) style.inverse = false;
    else if (c >= 30 && c <= 37) style.fg = c - 30;
    else if (c === 39) style.fg = null;
    else if (c >= 40 && c <= 47) style.bg = c - 40;
    else if (c === 49) style.bg = null;
    else if (c >= 90 && c <= 97) style.fg = c - 90 + 8;
    else if (c >= 100 && c <= 107) style.bg = c - 100 + 8;
    else if (c === 38 || c === 48) {
      const key = c === 38 ? 'fg' : 'bg';
      if (codes[i + 1] === 5 && byte(codes[i + 2])) {
        style[key] = color256(codes[i + 2]);
        i += 2;
      } else if (codes[i + 1] === 2 && byte(codes[i + 2]) && byte(codes[i + 3]) && byte(codes[i + 4])) {
        style[key] = `rgb(${codes[i + 2]}, ${codes[i + 3]}, ${codes[i + 4]})`;
        i += 4;
      } else {
        return; // malformed extended colour: the rest of the list is ambiguous
      }
    }
  }
}

function styledSpan(style) {
  const span = document.createElement('span');
  let fg = style.fg;
  let bg = style.bg;
  if (style.inverse) {
    [fg, bg] = [bg === null ? 'default-bg' : bg, fg === null ? 'default-fg' : fg];
  }
  if (style.bold) span.classList.add('a-b');
  if (style.dim) span.classList.add('a-d');
  if (style.italic) span.classList.add('a-i');
  if (style.underline) span.classList.add('a-u');
  if (fg === 'default-bg') span.classList.add('a-f-inv');
  else if (typeof fg === 'number') span.classList.add('a-f' + fg);
  else if (typeof fg === 'string') span.style.color = fg;
  if (bg === 'default-fg') span.classList.add('a-g-inv');
  else if (typeof bg === 'number') span.classList.add('a-g' + bg);
  else if (typeof bg === 'string') span.style.backgroundColor = bg;
  return span;
}

// Appends `text`, rendered, to `parent`. Returns the number of styled
// spans made.
export function renderAnsi(parent, text) {
  const budget = { controls: MAX_CONTROLS };
  if (text.indexOf(ESC) < 0) {
    appendText(parent, text, budget);
    return 0;
  }
  const style = newStyle();
  let spans = 0;
  let run = ''; // text gathered under the current style
  const flush = () => {
    if (run === '') return;
    let target = parent;
    if (!isPlain(style)) {
      target = parent.appendChild(styledSpan(style));
      spans++;
    }
    appendText(target, run, budget);
    run = '';
  };
  let i = 0;
  while (i < text.length) {
    const esc = text.indexOf(ESC, i);
    if (esc < 0) {
      run += text.slice(i);
      break;
    }
    run += text.slice(i, esc);
    SGR.lastIndex = esc;
    const m = SGR.exec(text);
    if (m === null) { // not SGR: shown as text, its ESC marked by appendText
      run += ESC;
      i = esc + 1;
      continue;
    }
    flush();
    i = SGR.lastIndex;
    if (spans >= MAX_SPANS) { // enough styling: the rest is plain text
      Object.assign(style, newStyle());
      run = text.slice(i).replace(/\x1b\[[0-9;]*m/g, '');
      break;
    }
    applySgr(style, m[1]);
  }
  flush();
  return spans;
}
