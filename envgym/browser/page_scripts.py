"""JavaScript run inside pages: bid marking + accessibility-tree text, and action preflight checks.

``EXTRACT`` walks the DOM once and returns the page as indented lines ``[bid] role 'name' props``.
Every interactive element (links, buttons, form fields, ``[role=button]``, ``[onclick]``,
``[tabindex]``, ``summary``…) gets a ``bid`` written to its ``data-bid`` attribute.  Bids are stable:
an element's app-provided ``id`` (or ``data-testid``) is its bid; otherwise a form field's
``form-id.name``; otherwise a short hash of its DOM path (``n`` + base-36).  Structural nodes
(headings, lists, tables, dialogs, navigation) appear without bids; leaf text appears as
``StaticText``.  Hidden subtrees (``display:none``, ``visibility:hidden``, ``aria-hidden``, closed
dialogs) are skipped.
"""

EXTRACT = r"""
(opts) => {
  const maxChars = opts.maxChars || 60000;
  const used = new Set();
  const lines = [];
  let total = 0, truncated = false;
  const clean = (s, n) => { s = (s || '').replace(/\s+/g, ' ').trim(); return s.length > (n||120) ? s.slice(0, (n||120) - 1) + '…' : s; };
  const q = (s) => "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
  const hash = (s) => { let h = 2166136261; for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); } return (h >>> 0).toString(36).slice(0, 5); };
  const domPath = (el) => { const parts = []; for (let e = el; e && e.nodeType === 1 && e !== document.documentElement; e = e.parentElement) { let i = 1; for (let s = e.previousElementSibling; s; s = s.previousElementSibling) if (s.tagName === e.tagName) i++; parts.push(e.tagName + i); } return parts.reverse().join('/'); };
  const okId = (s) => s && s.length <= 48 && /^[A-Za-z][\w.:-]*$/.test(s);
  function bidFor(el) {
    let b = el.getAttribute('data-testid') || el.id;
    if (!okId(b)) {
      const name = el.getAttribute('name');
      const form = el.form || el.closest('form');
      if (name && form && okId(form.id) && el.type !== 'radio' && okId(form.id + '.' + name)) b = form.id + '.' + name;
      else if (name && el.type === 'radio' && okId(name + '.' + el.value)) b = name + '.' + el.value;
      else b = 'n' + hash(domPath(el));
    }
    let out = b, k = 2;
    while (used.has(out)) out = b + '~' + (k++);
    used.add(out);
    if (el.getAttribute('data-bid') !== out) el.setAttribute('data-bid', out);
    return out;
  }
  const INPUT_ROLES = {text:'textbox', email:'textbox', tel:'textbox', url:'textbox', password:'textbox', search:'searchbox', number:'spinbutton', checkbox:'checkbox', radio:'radio', submit:'button', button:'button', reset:'button', range:'slider', date:'textbox', time:'textbox', 'datetime-local':'textbox', month:'textbox', week:'textbox', color:'textbox', file:'button'};
  const STRUCT = {H1:'heading', H2:'heading', H3:'heading', H4:'heading', H5:'heading', H6:'heading', NAV:'navigation', MAIN:'main', HEADER:'banner', FOOTER:'contentinfo', ASIDE:'complementary', TABLE:'table', THEAD:'', TBODY:'', TR:'row', TH:'columnheader', TD:'cell', UL:'list', OL:'list', LI:'listitem', DIALOG:'dialog', FORM:'form', IMG:'img', FIELDSET:'group', LEGEND:'', P:'paragraph', ARTICLE:'article', SECTION:'region', LABEL:'', DL:'list', DT:'term', DD:'definition', PRE:'code', BLOCKQUOTE:'blockquote', HR:'separator', CAPTION:'caption'};
  const INTERACTIVE_ROLES = new Set(['button','link','textbox','searchbox','checkbox','radio','combobox','listbox','option','menuitem','menuitemcheckbox','menuitemradio','tab','switch','slider','spinbutton','treeitem','gridcell']);
  function roleOf(el) {
    const r = el.getAttribute('role');
    if (r) return r.split(' ')[0];
    const t = el.tagName;
    if (t === 'A') return el.hasAttribute('href') ? 'link' : '';
    if (t === 'BUTTON') return 'button';
    if (t === 'INPUT') return el.type === 'hidden' ? 'hidden' : (INPUT_ROLES[el.type] || 'textbox');
    if (t === 'SELECT') return el.multiple ? 'listbox' : 'combobox';
    if (t === 'TEXTAREA') return 'textbox';
    if (t === 'SUMMARY') return 'button';
    if (t === 'SECTION' && !(el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'))) return '';
    if (t === 'FORM' && !(el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'))) return '';
    return STRUCT[t] || '';
  }
  function isInteractive(el, role) {
    if (INTERACTIVE_ROLES.has(role)) return true;
    if (el.isContentEditable && (!el.parentElement || !el.parentElement.isContentEditable)) return true;
    if (el.hasAttribute('onclick')) return true;
    const ti = el.getAttribute('tabindex');
    return ti !== null && ti !== '-1';
  }
  function labelText(el) {
    const lb = el.getAttribute('aria-labelledby');
    if (lb) { const s = lb.split(/\s+/).map(id => { const n = document.getElementById(id); return n ? n.textContent : ''; }).join(' '); if (clean(s)) return clean(s); }
    const al = el.getAttribute('aria-label'); if (al) return clean(al);
    if (el.labels && el.labels.length) { const s = Array.from(el.labels).map(l => { const c = l.cloneNode(true); c.querySelectorAll('input,select,textarea,.err,[data-noname]').forEach(x => x.remove()); return c.textContent; }).join(' '); if (clean(s)) return clean(s); }
    return '';
  }
  function nameOf(el, role) {
    const l = labelText(el); if (l) return l;
    const t = el.tagName;
    if (t === 'IMG') return clean(el.getAttribute('alt'));
    if (t === 'INPUT' && (el.type === 'submit' || el.type === 'button' || el.type === 'reset')) return clean(el.value);
    if (t === 'INPUT' || t === 'TEXTAREA' || t === 'SELECT') return clean(el.getAttribute('placeholder') || el.getAttribute('title') || '');
    const txt = clean(el.innerText || el.textContent, 160);
    return txt || clean(el.getAttribute('title') || '');
  }
  function visible(el) {
    if (el.getAttribute('aria-hidden') === 'true') return false;
    if (el.tagName === 'DIALOG' && !el.open) return false;
    if (el.checkVisibility) { if (!el.checkVisibility({checkVisibilityCSS: true})) return el.tagName === 'INPUT' && (el.type === 'checkbox' || el.type === 'radio') && el.labels && el.labels.length > 0 && el.labels[0].checkVisibility(); return true; }
    const cs = getComputedStyle(el); return cs.display !== 'none' && cs.visibility !== 'hidden';
  }
  function props(el, role) {
    const p = [];
    const t = el.tagName;
    if (role === 'heading') p.push('level=' + (t[1] || el.getAttribute('aria-level') || 2));
    if (t === 'INPUT' || t === 'TEXTAREA') {
      if (el.type === 'checkbox' || el.type === 'radio') p.push(el.checked ? 'checked' : 'unchecked');
      else if (!(el.type in {submit:1, button:1, reset:1})) p.push('value=' + q(el.type === 'password' ? '•'.repeat(el.value.length) : clean(el.value, 200)));
      if (el.type === 'number' || el.type === 'range') { if (el.min !== '') p.push('min=' + el.min); if (el.max !== '') p.push('max=' + el.max); }
      if (el.type === 'date' || el.type === 'time' || el.type === 'datetime-local') p.push('type=' + el.type);
    }
    if (t === 'SELECT') {
      const sel = Array.from(el.selectedOptions).map(o => clean(o.textContent)).join(', ');
      p.push('value=' + q(sel));
      const opts = Array.from(el.options).map(o => q(clean(o.textContent, 60)));
      p.push('options=[' + (opts.length > 40 ? opts.slice(0, 40).join(', ') + ', …' : opts.join(', ')) + ']');
    }
    if (el.disabled || el.getAttribute('aria-disabled') === 'true') p.push('disabled');
    if (el.required || el.getAttribute('aria-required') === 'true') p.push('required');
    if (el.getAttribute('aria-invalid') === 'true') p.push('invalid');
    const ex = el.getAttribute('aria-expanded'); if (ex) p.push('expanded=' + ex);
    if (el.getAttribute('aria-selected') === 'true') p.push('selected');
    const cur = el.getAttribute('aria-current'); if (cur && cur !== 'false') p.push('current');
    const pr = el.getAttribute('aria-pressed'); if (pr) p.push('pressed=' + pr);
    if (el.getAttribute('aria-checked')) p.push(el.getAttribute('aria-checked') === 'true' ? 'checked' : 'unchecked');
    if (t === 'A' && opts.hrefs) { const h = el.getAttribute('href'); if (h) p.push('href=' + q(h)); }
    if (document.activeElement === el && el !== document.body) p.push('focused');
    return p;
  }
  function emit(depth, s) {
    if (truncated) return;
    if (total + s.length > maxChars) { truncated = true; lines.push('  '.repeat(depth) + '… (page truncated)'); return; }
    total += s.length + 1; lines.push('  '.repeat(depth) + s);
  }
  function hasStructure(el) { return el.querySelector('a[href],button,input:not([type=hidden]),select,textarea,summary,[role],[onclick],[tabindex],[contenteditable],h1,h2,h3,h4,h5,h6,table,ul,ol,li,img,dialog,p,label,dl,pre,nav,form,fieldset'); }
  function walk(node, depth) {
    for (let c = node.firstChild; c; c = c.nextSibling) {
      if (truncated) return;
      if (c.nodeType === 3) { const t = clean(c.textContent, 300); if (t) emit(depth, 'StaticText ' + q(t)); continue; }
      if (c.nodeType !== 1) continue;
      const t = c.tagName;
      if (t === 'SCRIPT' || t === 'STYLE' || t === 'NOSCRIPT' || t === 'TEMPLATE' || t === 'OPTION' || t === 'svg' || t === 'SVG') continue;
      if (!visible(c)) continue;
      const role = roleOf(c);
      if (role === 'hidden' || role === 'presentation' || role === 'none') { if (role !== 'hidden') walk(c, depth); continue; }
      if (isInteractive(c, role)) {
        const bid = bidFor(c);
        const name = nameOf(c, role);
        const pr = props(c, role);
        emit(depth, '[' + bid + '] ' + (role || 'generic') + (name ? ' ' + q(name) : '') + (pr.length ? ' ' + pr.join(' ') : ''));
        if ((role === 'dialog' || role === 'menu' || role === 'listbox' || role === 'tablist' || role === 'grid' || t === 'DIV' || t === 'LI' || t === 'TR' || t === 'TD') && hasStructure(c)) walk(c, depth + 1);
        continue;
      }
      if (role) {
        const leaf = !hasStructure(c);
        if (role === 'img') { const n = nameOf(c, role); if (n) emit(depth, 'img ' + q(n)); continue; }
        if (role === 'separator') continue;
        const named = labelText(c);
        if (leaf) {
          const txt = clean(c.innerText || c.textContent, 300);
          if (txt || role === 'heading') { const pr = props(c, role); emit(depth, role + ' ' + q(txt || named) + (pr.length ? ' ' + pr.join(' ') : '')); }
          continue;
        }
        const pr = props(c, role);
        emit(depth, role + (named ? ' ' + q(named) : '') + (pr.length ? ' ' + pr.join(' ') : ''));
        walk(c, depth + 1);
        continue;
      }
      // generic container: its text if it is a leaf block, else recurse at the same depth
      if (!hasStructure(c)) {
        const txt = clean(c.innerText || c.textContent, 300);
        if (txt) emit(depth, 'StaticText ' + q(txt));
        continue;
      }
      walk(c, depth);
    }
  }
  const openDialog = document.querySelector('dialog[open][aria-modal=true], dialog:modal');
  emit(0, 'RootWebArea ' + q(clean(document.title)) + (openDialog ? ' (a modal dialog is open; only its contents can be used)' : ''));
  if (document.body) walk(document.body, 1);
  const sc = document.scrollingElement || document.documentElement;
  return {
    text: lines.join('\n'),
    truncated,
    scroll: {y: Math.round(sc.scrollTop), height: Math.round(sc.scrollHeight), viewport: Math.round(window.innerHeight)},
  };
}
"""

#: Preflight for element actions: resolve the bid, explain why it cannot be used, scroll it into view.
PREFLIGHT = r"""
([bid, kind]) => {
  let el = document.querySelector('[data-bid="' + CSS.escape(bid) + '"]');
  if (!el) {
    // bids come from app ids: an element inside a collapsed menu was never marked, but can be explained
    el = document.getElementById(bid) || document.querySelector('[data-testid="' + CSS.escape(bid) + '"]');
    if (!el || document.querySelector('[data-bid="' + CSS.escape(bid) + '"]')) return {ok: false, code: 'missing'};
    el.setAttribute('data-bid', bid);
  }
  if (el.getAttribute('aria-hidden') === 'true' || (el.checkVisibility && !el.checkVisibility({checkVisibilityCSS: true}))) {
    const isBox = el.tagName === 'INPUT' && (el.type === 'checkbox' || el.type === 'radio') && el.labels && el.labels.length;
    if (!isBox) return {ok: false, code: 'hidden'};
  }
  if (el.disabled || el.getAttribute('aria-disabled') === 'true') return {ok: false, code: 'disabled'};
  const tag = el.tagName, type = (el.type || '').toLowerCase();
  const fillable = (tag === 'INPUT' && !['checkbox','radio','submit','button','reset','file','range','hidden'].includes(type)) || tag === 'TEXTAREA' || el.isContentEditable;
  if (kind === 'fill' && !fillable) return {ok: false, code: 'not_fillable', tag: tag.toLowerCase(), type};
  if (kind === 'fill' && el.readOnly) return {ok: false, code: 'readonly'};
  if (kind === 'select' && tag !== 'SELECT') return {ok: false, code: 'not_select', tag: tag.toLowerCase()};
  const modal = document.querySelector('dialog:modal');
  if (modal && !modal.contains(el)) return {ok: false, code: 'modal', modal: (modal.querySelector('h1,h2,h3') || modal).textContent.replace(/\s+/g, ' ').trim().slice(0, 80)};
  const r0 = el.getBoundingClientRect();
  if (r0.bottom < 0 || r0.top > window.innerHeight || r0.right < 0 || r0.left > window.innerWidth) el.scrollIntoView({block: 'center', inline: 'nearest'});
  if (kind === 'click') {
    const r = el.getBoundingClientRect();
    const x = r.left + Math.min(r.width / 2, Math.max(1, r.width - 1)), y = r.top + Math.min(r.height / 2, Math.max(1, r.height - 1));
    const hit = document.elementFromPoint(x, y);
    const isBox = tag === 'INPUT' && (type === 'checkbox' || type === 'radio');
    if (hit && hit !== el && !el.contains(hit) && !(isBox && el.labels && Array.from(el.labels).some(l => l.contains(hit))) && !(hit.tagName === 'LABEL' && hit.control === el)) {
      const desc = hit.tagName.toLowerCase() + (hit.id ? '#' + hit.id : '') + (hit.className && typeof hit.className === 'string' ? '.' + hit.className.split(' ')[0] : '');
      return {ok: false, code: 'covered', by: desc};
    }
  }
  const opts = tag === 'SELECT' ? Array.from(el.options).map(o => ({value: o.value, label: o.textContent.replace(/\s+/g, ' ').trim()})) : null;
  const link = el.closest('a[target]'), form = el.form || el.closest('form');
  const opensTab = !!((link && link.target && link.target !== '_self') || (form && form.target && form.target !== '_self' && (type === 'submit' || tag === 'BUTTON')));
  return {ok: true, tag: tag.toLowerCase(), type, options: opts, opensTab};
}
"""

#: Resolves once the DOM has had no mutations for ``quietMs`` (checked on macrotask turns, not animation
#: frames, so an idle server-rendered page settles in a few milliseconds); bounded by ``maxMs``.
DOM_QUIET = r"""
([quietMs, maxMs]) => new Promise((resolve) => {
  let last = performance.now();
  const obs = new MutationObserver(() => { last = performance.now(); });
  obs.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  const start = performance.now();
  let turns = 0;
  const tick = () => {
    const now = performance.now();
    turns++;
    if ((turns >= 2 && now - last >= quietMs) || now - start >= maxMs) { obs.disconnect(); resolve(true); }
    else setTimeout(tick, turns < 2 ? 0 : 4);
  };
  setTimeout(tick, 0);
})
"""
