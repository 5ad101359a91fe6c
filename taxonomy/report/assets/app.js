/* taxo report: the tree, node pages and search. Data come from data/taxo.js (window.TAXO_DATA) and, per
   opened node, data/m-<k>.js. Every text from the data is placed with textContent (never as HTML); labels
   given to plotly are escaped, since plotly reads a few HTML-like tags in labels. */
(function () {
  'use strict';
  var D = window.TAXO_DATA;
  var T = window.TAXO = {views: {}};
  if (window.performance && performance.mark) performance.mark('taxo-scripts-loaded');

  // ------------------------------------------------------------------------------------------------ helpers
  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] === undefined || attrs[k] === null) continue;
        if (k === 'text') e.textContent = String(attrs[k]);
        else if (k === 'cls') e.className = attrs[k];
        else if (k === 'on') { for (var ev in attrs.on) e.addEventListener(ev, attrs.on[ev]); }
        else e.setAttribute(k, attrs[k]);
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
  function plotlyText(s) {  // plotly parses <b>, <a>, <br>... in labels: escape so names show literally
    return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }
  function fmtPct(x) {
    if (x === 0) return '0%';
    if (x >= 10) return x.toFixed(1) + '%';
    if (x >= 0.1) return x.toFixed(2) + '%';
    return x.toPrecision(2) + '%';
  }
  function fmtNum(x) { return typeof x === 'number' ? x.toLocaleString('en-US', {maximumFractionDigits: 6}) : String(x); }
  function shortId(uid) { var p = uid.split(':'); return p[p.length - 1].slice(0, 8); }
  T.el = el; T.clear = clear; T.plotlyText = plotlyText; T.fmtPct = fmtPct; T.fmtNum = fmtNum; T.shortId = shortId;

  function fail(msg) {
    var m = document.getElementById('message');
    m.hidden = false;
    m.textContent = msg;
  }
  if (!D) {
    document.addEventListener('DOMContentLoaded', function () {
      fail('The report data (data/taxo.js) could not be loaded. Open index.html from the report folder.');
    });
    return;
  }

  // ------------------------------------------------------------------------------------------- derived data
  var N = D.nodes, nNodes = N.uid.length;
  var children = [], tops = [], byUid = new Map(), nameLower = [];
  for (var i = 0; i < nNodes; i++) { children.push([]); byUid.set(N.uid[i], i); nameLower.push(N.name[i].toLowerCase()); }
  for (i = 0; i < nNodes; i++) { if (N.parent[i] < 0) tops.push(i); else children[N.parent[i]].push(i); }
  var V = D.values, valueLower = null;  // lower-cased on the first search
  function path(i) { var out = []; while (i >= 0) { out.push(i); i = N.parent[i]; } return out.reverse(); }
  function pathText(i) { return path(i).map(function (j) { return N.name[j]; }).join(' › '); }
  T.D = D; T.N = N; T.children = children; T.tops = tops; T.byUid = byUid; T.path = path; T.pathText = pathText;

  // Changes from the --diff version, per node index (badges in the outline and on node pages).
  var marks = new Map();
  function mark(uid, label) {
    var j = byUid.get(uid);
    if (j === undefined) return;
    if (!marks.has(j)) marks.set(j, []);
    if (marks.get(j).indexOf(label) < 0) marks.get(j).push(label);
  }
  if (D.diff) {
    D.diff.added.forEach(function (e) { mark(e.uid, 'added'); });
    D.diff.renamed.forEach(function (e) { mark(e.uid, 'renamed'); });
    D.diff.redescribed.forEach(function (e) { mark(e.uid, 'redescribed'); });
    D.diff.moved.forEach(function (e) { mark(e.uid, 'moved'); });
    D.diff.merged.forEach(function (e) { e.survivors.forEach(function (s) { mark(s.uid, 'merge survivor'); }); });
    D.diff.split.forEach(function (e) { e.parts.forEach(function (p) { mark(p.uid, 'split part'); }); });
  }
  T.marks = marks;
  function badges(j) {
    var f = document.createDocumentFragment();
    (marks.get(j) || []).forEach(function (m) { f.appendChild(el('span', {cls: 'badge b-' + m.split(' ')[0], text: m})); });
    return f;
  }
  T.badges = badges;
  function nodeHref(j) { return '#node/' + encodeURIComponent(N.uid[j]); }
  T.nodeHref = nodeHref;
  function nodeLink(j, text) { return el('a', {href: nodeHref(j), cls: 'nodelink', text: text === undefined ? N.name[j] : text}); }
  T.nodeLink = nodeLink;

  // --------------------------------------------------------------------------------------- member chunks
  var chunks = {}, pending = {};
  window.TAXO_CHUNK = function (k, data) {
    chunks[k] = data;
    if (pending[k]) { pending[k].forEach(function (cb) { cb[0](data); }); delete pending[k]; }
  };
  function loadChunk(k) {
    return new Promise(function (resolve, reject) {
      if (chunks[k]) return resolve(chunks[k]);
      if (pending[k]) { pending[k].push([resolve, reject]); return; }
      pending[k] = [[resolve, reject]];
      var s = document.createElement('script');
      s.src = 'data/m-' + k + '.js';
      s.onerror = function () {
        var p = pending[k] || []; delete pending[k];
        p.forEach(function (cb) { cb[1](new Error('data/m-' + k + '.js could not be loaded')); });
      };
      document.body.appendChild(s);
    });
  }
  T.loadChunk = loadChunk;

  // --------------------------------------------------------------------------------------------- sunburst
  var sizeOf = D.size_key === 'weight' ? N.weight : N.members;
  var chartRoot = -1;
  function crumbs() {
    var c = clear(document.getElementById('crumbs'));
    c.appendChild(el('a', {href: '#tree', text: 'All', on: {click: function (ev) { ev.preventDefault(); zoom(-1); }}}));
    if (chartRoot >= 0) {
      path(chartRoot).forEach(function (j) {
        c.appendChild(el('span', {cls: 'sep', text: '›'}));
        c.appendChild(el('a', {href: nodeHref(j), text: N.name[j], title: 'Zoom here; click again for the node page',
          on: {click: function (ev) { if (chartRoot !== j) { ev.preventDefault(); zoom(j); } }}}));
      });
      c.appendChild(el('a', {href: nodeHref(chartRoot), cls: 'open', text: 'Open node page'}));
    }
  }
  // The chart shows a window of the tree: the zoom root (as the centre) and the rings below it, as many as stay
  // under SECTORS sectors (at least two), so that drawing costs the same for 500 or 100,000 values. Clicking a
  // sector re-roots the window there; clicking the centre goes one level up.
  var SECTORS = 400;
  function windowOf(root) {
    var out = root < 0 ? [] : [root], ring = root < 0 ? tops.slice() : children[root].slice(), rings = 0;
    while (ring.length && (rings < 2 || out.length + ring.length <= SECTORS)) {
      var next = [];
      for (var a = 0; a < ring.length; a++) { out.push(ring[a]); next.push.apply(next, children[ring[a]]); }
      ring = next;
      rings++;
    }
    return out;
  }
  function trace(root) {
    var nodes = windowOf(root), inWindow = new Set(nodes);
    var ids = [], labels = [], parents = [], values = [], custom = [];
    nodes.forEach(function (j) {
      var p = N.parent[j], kids = children[j];
      ids.push(String(j));
      labels.push(plotlyText(N.name[j]));
      parents.push(j === root || p < 0 ? '' : String(p));
      // branchvalues 'remainder': a node whose children are drawn is the sum of them
      values.push(kids.length && inWindow.has(kids[0]) ? 0 : sizeOf[j]);
      custom.push([fmtPct(N.pct[j]), fmtNum(N.members[j]), 'level ' + N.level[j]]);
    });
    return {
      type: 'sunburst', ids: ids, labels: labels, parents: parents, values: values, customdata: custom,
      branchvalues: 'remainder', sort: false, insidetextorientation: 'radial',
      hovertemplate: '<b>%{label}</b><br>%{customdata[0]} of occurrences<br>%{customdata[1]} values, %{customdata[2]}<extra></extra>',
      marker: {line: {width: 1, color: '#fff'}}
    };
  }
  var LAYOUT = {margin: {l: 4, r: 4, t: 4, b: 4}, paper_bgcolor: 'rgba(0,0,0,0)', font: {size: 12}};
  function zoom(j) {
    chartRoot = j;
    var div = document.getElementById('sunburst');
    crumbs();
    if (window.Plotly && div.data) return Plotly.react(div, [trace(j)], LAYOUT);
  }
  T.zoom = zoom; T.trace = trace; T.setSectors = function (n) { SECTORS = n; };
  function drawSunburst() {
    var div = document.getElementById('sunburst');
    if (!window.Plotly) { div.textContent = 'plotly.js could not be loaded (assets/plotly.min.js).'; return; }
    var drawn = Plotly.newPlot(div, [trace(chartRoot)], LAYOUT,
      {responsive: true, displaylogo: false, modeBarButtonsToRemove: ['toImage']});
    div.on('plotly_sunburstclick', function (ev) {
      var p = ev && ev.points && ev.points[0];
      if (!p) return false;
      var j = Number(p.id);
      if (j === chartRoot) zoom(N.parent[j]);
      else if (children[j].length) { zoom(j); revealInOutline(j); }
      else go(j);  // a level-1 node: its page
      return false;  // no plotly zoom: the window is re-rooted instead
    });
    crumbs();
    return drawn;
  }

  // ---------------------------------------------------------------------------------------------- outline
  var rowOf = new Map();
  function outlineRow(j, depth) {
    var kids = children[j];
    var wrap = el('div', {cls: 'tnode', role: 'treeitem', 'aria-expanded': kids.length ? 'false' : null});
    var toggle = el('button', {type: 'button', cls: 'toggle', 'aria-label': 'Expand', text: kids.length ? '▸' : ''});
    if (!kids.length) toggle.disabled = true;
    var row = el('div', {cls: 'row', style: 'padding-left:' + (depth * 16 + 4) + 'px'},
      toggle, el('a', {href: nodeHref(j), cls: 'nodelink name', text: N.name[j], title: N.name[j]}), badges(j),
      el('span', {cls: 'share', text: fmtPct(N.pct[j])}),
      el('span', {cls: 'count', text: fmtNum(N.members[j]) + (N.members[j] === 1 ? ' value' : ' values')}));
    var box = el('div', {cls: 'kids', role: 'group', hidden: ''});
    wrap.appendChild(row); wrap.appendChild(box);
    toggle.addEventListener('click', function () { setOpen(j, box.hidden); });
    rowOf.set(j, {wrap: wrap, box: box, toggle: toggle, depth: depth, filled: false});
    return wrap;
  }
  function fill(j) {
    var r = rowOf.get(j);
    if (r.filled) return;
    r.filled = true;
    var kids = children[j], limit = 300;
    kids.slice(0, limit).forEach(function (k) { r.box.appendChild(outlineRow(k, r.depth + 1)); });
    if (kids.length > limit) {
      var more = el('button', {type: 'button', cls: 'more', text: 'Show all ' + kids.length + ' children'});
      more.addEventListener('click', function () {
        more.remove();
        kids.slice(limit).forEach(function (k) { r.box.appendChild(outlineRow(k, r.depth + 1)); });
      });
      r.box.appendChild(more);
    }
  }
  function setOpen(j, open) {
    var r = rowOf.get(j);
    if (!r || !children[j].length) return;
    if (open) fill(j);
    r.box.hidden = !open;
    r.toggle.textContent = open ? '▾' : '▸';
    r.toggle.setAttribute('aria-label', open ? 'Collapse' : 'Expand');
    r.wrap.setAttribute('aria-expanded', open ? 'true' : 'false');
  }
  function revealInOutline(j) {
    var p = path(j);
    for (var k = 0; k < p.length - 1; k++) setOpen(p[k], true);
    var r = rowOf.get(j);
    if (!r) return;
    document.querySelectorAll('.row.current').forEach(function (x) { x.classList.remove('current'); });
    r.wrap.firstChild.classList.add('current');
    r.wrap.firstChild.scrollIntoView({block: 'nearest'});
  }
  T.revealInOutline = revealInOutline;
  function drawOutline() {
    var o = clear(document.getElementById('outline'));
    rowOf.clear();
    tops.forEach(function (j) { o.appendChild(outlineRow(j, 0)); });
    document.getElementById('expand-all').addEventListener('click', function () { tops.forEach(function (j) { setOpen(j, true); }); });
    document.getElementById('collapse-all').addEventListener('click', function () {
      rowOf.forEach(function (r, j) { if (r.filled) setOpen(j, false); });
    });
  }

  // --------------------------------------------------------------------------------------------- node page
  var panel, panelBody, highlightValue = null;
  function section(title, body) { return el('section', {cls: 'psec'}, el('h3', {text: title}), body); }
  function openNode(j) {
    var hl = highlightValue;
    highlightValue = null;
    panel.hidden = false;
    document.body.classList.add('panel-open');
    var b = clear(panelBody);
    var crumbsBox = el('nav', {cls: 'crumbs', 'aria-label': 'Path'});
    path(j).forEach(function (k, n) {
      if (n) crumbsBox.appendChild(el('span', {cls: 'sep', text: '›'}));
      crumbsBox.appendChild(k === j ? el('span', {cls: 'here', text: N.name[k]}) : nodeLink(k));
    });
    b.appendChild(crumbsBox);
    b.appendChild(el('h2', {id: 'node-name', text: N.name[j]}));
    b.appendChild(el('p', {cls: 'meta'}, 'level ' + N.level[j] + ' · ', el('code', {text: shortId(N.uid[j]), title: N.uid[j]}), ' ', badges(j)));
    var descBox = el('p', {cls: 'desc', id: 'node-desc'});
    b.appendChild(descBox);
    var stats = el('dl', {cls: 'stats'},
      el('dt', {text: 'Share of occurrences'}), el('dd', {text: fmtPct(N.pct[j])}),
      el('dt', {text: 'Values'}), el('dd', {text: fmtNum(N.members[j])}),
      el('dt', {text: 'Weight'}), el('dd', {text: fmtNum(N.weight[j])}),
      el('dt', {text: 'Children'}), el('dd', {text: String(children[j].length || (N.level[j] === 1 ? N.members[j] + ' values' : 0))}));
    b.appendChild(stats);
    b.appendChild(el('p', {cls: 'actions'}, el('a', {href: '#tree', cls: 'btn', text: 'Show in tree', on: {click: function (ev) {
      ev.preventDefault(); closePanel(); zoom(N.level[j] === 1 && N.parent[j] >= 0 ? N.parent[j] : j); revealInOutline(j);
    }}})));
    if (children[j].length) {
      var tb = el('tbody');
      children[j].forEach(function (k) {
        tb.appendChild(el('tr', null, el('td', null, nodeLink(k), badges(k)), el('td', {cls: 'num', text: fmtPct(N.pct[k])}),
          el('td', {cls: 'num', text: fmtNum(N.members[k])})));
      });
      b.appendChild(section('Children (' + children[j].length + ')', el('table', {cls: 'grid', id: 'node-children'},
        el('thead', null, el('tr', null, el('th', {text: 'name'}), el('th', {cls: 'num', text: 'share'}), el('th', {cls: 'num', text: 'values'}))), tb)));
    }
    var membersBox = el('div', {id: 'node-members', cls: 'loading', text: 'Loading values…'});
    b.appendChild(section(N.level[j] === 1 ? 'Values (' + fmtNum(N.members[j]) + ')' : 'Heaviest values', membersBox));
    var exBox = el('div', {id: 'node-excerpts'});
    if (D.excerpts && D.excerpts.records) b.appendChild(section('Excerpts (redacted)', exBox));
    var nearBox = el('ul', {cls: 'plain', id: 'node-neighbours'});
    if (D.neighbours) b.appendChild(section('Nearest nodes (level ' + N.level[j] + ')', nearBox));
    var histBox = el('div', {id: 'node-history'});
    b.appendChild(section('History', histBox));
    loadChunk(N.chunk[j]).then(function (c) {
      var entry = c[String(j)] || {};
      descBox.textContent = entry.d || '';
      fillMembers(j, entry, membersBox, exBox, hl);
      (entry.n || []).forEach(function (h) {
        nearBox.appendChild(el('li', null, nodeLink(h[0]), el('span', {cls: 'muted', text: '  similarity ' + h[1].toFixed(3) +
          (N.parent[h[0]] >= 0 ? ' · ' + pathText(N.parent[h[0]]) : '')})));
      });
      if (!nearBox.firstChild) nearBox.appendChild(el('li', {cls: 'muted', text: 'no other node at this level'}));
      T.historyList(j, entry.h || [], histBox);
    },
      function (err) { membersBox.className = 'error'; membersBox.textContent = err.message; });
    panel.scrollTop = 0;
  }
  function fillMembers(j, entry, box, exBox, hl) {
    clear(box); box.className = '';
    if (!entry.v) { box.textContent = 'no values'; return; }
    var n = entry.v.length, shown = Math.min(n, 200), tb = el('tbody');
    var total = D.total_weight || 0;
    function rows(from, to) {
      for (var k = from; k < to; k++) {
        var vi = entry.v[k], w = entry.w[k];
        var tr = el('tr', {'data-value': String(vi)}, el('td', {text: V.text[vi]}), el('td', {cls: 'num', text: fmtNum(w)}),
          el('td', {cls: 'num', text: fmtNum(entry.c[k])}), el('td', {cls: 'num', text: total > 0 ? fmtPct(100 * w / total) : '–'}));
        if (N.level[j] > 1) tr.appendChild(el('td', null, nodeLink(V.node[vi])));
        if (vi === hl) tr.className = 'hl';
        tb.appendChild(tr);
      }
    }
    var hlPos = hl === null ? -1 : entry.v.indexOf(hl);
    if (hlPos >= shown) shown = hlPos + 1;
    rows(0, shown);
    var head = el('tr', null, el('th', {text: 'value'}), el('th', {cls: 'num', text: 'weight'}), el('th', {cls: 'num', text: 'count'}), el('th', {cls: 'num', text: 'share'}));
    if (N.level[j] > 1) head.appendChild(el('th', {text: 'level-1 node'}));
    box.appendChild(el('table', {cls: 'grid'}, el('thead', null, head), tb));
    if (shown < n) {
      var more = el('button', {type: 'button', cls: 'more', text: 'Show all ' + fmtNum(n)});
      more.addEventListener('click', function () { rows(shown, n); more.remove(); });
      box.appendChild(more);
    }
    if (N.members[j] > n) box.appendChild(el('p', {cls: 'muted', text: 'The ' + fmtNum(n) + ' heaviest of ' + fmtNum(N.members[j]) + ' values.'}));
    var hlRow = box.querySelector('tr.hl');
    if (hlRow) hlRow.scrollIntoView({block: 'center'});
    if (exBox) {
      clear(exBox);
      var xs = entry.x || [];
      if (!xs.length) exBox.appendChild(el('p', {cls: 'muted', text: 'no extraction record with an excerpt for these values'}));
      xs.forEach(function (x) {
        exBox.appendChild(el('blockquote', {cls: 'excerpt'}, el('p', {text: x[2]}),
          el('footer', {text: V.text[x[0]] + (x[1] ? ' · ' + x[1] : '')})));
      });
    }
  }
  function closePanel() {
    if (panel.hidden) return;
    panel.hidden = true;
    document.body.classList.remove('panel-open');
    if (location.hash.indexOf('#node/') === 0) history.replaceState(null, '', '#' + (currentView || 'tree'));
  }
  T.openNode = openNode; T.closePanel = closePanel;

  // ----------------------------------------------------------------------------------------------- search
  var input, results, hits = [], active = -1;
  function runSearch(q) {
    q = q.trim().toLowerCase();
    hits = []; active = -1;
    if (!q) { hideResults(); return; }
    if (!valueLower) valueLower = V.text.map(function (t) { return t.toLowerCase(); });
    var nodeExact = [], nodeOther = [], exact = [], prefix = [], other = [], nNodesHit = 0, nValues = 0, lim = 30;
    for (var j = 0; j < nNodes; j++) {
      var s = nameLower[j], p = s.indexOf(q);
      if (p < 0) continue;
      nNodesHit++;
      if (s === q) nodeExact.push(j); else if (nodeOther.length < 10) nodeOther.push(j);
    }
    for (var k = 0; k < valueLower.length; k++) {
      var t = valueLower[k], pos = t.indexOf(q);
      if (pos < 0) continue;
      nValues++;
      if (t.length === q.length) exact.push(k);
      else if (pos === 0) { if (prefix.length < lim) prefix.push(k); }
      else if (other.length < lim) other.push(k);
    }
    // exact matches first (nodes, then values), then other nodes, then values starting with the text, then the rest
    nodeExact.forEach(function (j) { hits.push({kind: 'node', i: j}); });
    exact.forEach(function (k) { hits.push({kind: 'value', i: k}); });
    nodeOther.slice(0, Math.max(0, 10 - nodeExact.length)).forEach(function (j) { hits.push({kind: 'node', i: j}); });
    prefix.concat(other).slice(0, Math.max(0, lim - exact.length)).forEach(function (k) { hits.push({kind: 'value', i: k}); });
    showResults(nNodesHit, nValues);
  }
  function showResults(nNodesHit, nValues) {
    clear(results);
    results.hidden = false;
    results.appendChild(el('div', {cls: 'rhead', text: fmtNum(nValues) + (nValues === 1 ? ' value' : ' values') + ', ' +
      fmtNum(nNodesHit) + (nNodesHit === 1 ? ' node' : ' nodes') + ' match' + (hits.length < nValues + nNodesHit ? ' (first ' + hits.length + ' shown)' : '')}));
    hits.forEach(function (h, n) {
      var name = h.kind === 'node' ? N.name[h.i] : V.text[h.i];
      var where = h.kind === 'node' ? (N.parent[h.i] >= 0 ? pathText(N.parent[h.i]) : 'top level') : pathText(V.node[h.i]);
      var item = el('a', {cls: 'hit', role: 'option', href: h.kind === 'node' ? nodeHref(h.i) : nodeHref(V.node[h.i]), id: 'hit-' + n},
        el('span', {cls: 'kind k-' + h.kind, text: h.kind === 'node' ? 'L' + N.level[h.i] : 'value'}),
        el('span', {cls: 'hname', text: name}), el('span', {cls: 'hpath', text: where}));
      item.addEventListener('click', function (ev) { ev.preventDefault(); choose(n); });
      item.addEventListener('mousemove', function () { setActive(n); });
      results.appendChild(item);
    });
  }
  function hideResults() { results.hidden = true; clear(results); }
  function setActive(n) {
    var items = results.querySelectorAll('.hit');
    if (active >= 0 && items[active]) items[active].classList.remove('active');
    active = n;
    if (items[n]) { items[n].classList.add('active'); items[n].scrollIntoView({block: 'nearest'}); input.setAttribute('aria-activedescendant', 'hit-' + n); }
  }
  function choose(n) {
    var h = hits[n];
    if (!h) return;
    hideResults();
    input.blur();
    if (h.kind === 'node') { highlightValue = null; go(h.i); } else { highlightValue = h.i; go(V.node[h.i]); }
  }
  function go(j) {
    var target = nodeHref(j);
    if (location.hash === target) openNode(j); else location.hash = target;
  }
  T.go = go;

  // ----------------------------------------------------------------------------------------------- router
  var currentView = null;
  function showView(name) {
    if (!T.views[name] && name !== 'tree') name = 'tree';
    if (name === 'changes' && !D.diff) name = 'tree';
    document.querySelectorAll('.view').forEach(function (s) { s.hidden = s.id !== 'view-' + name; });
    document.querySelectorAll('#nav a').forEach(function (a) { a.classList.toggle('on', a.getAttribute('data-view') === name); });
    if (currentView !== name) {
      currentView = name;
      if (T.views[name]) T.views[name](document.getElementById('view-' + name));
      if (name === 'tree') { var s = document.getElementById('sunburst'); if (s.data) Plotly.Plots.resize(s); }
    }
  }
  function route() {
    var h = decodeURIComponent(location.hash.slice(1));
    if (h.indexOf('node/') === 0) {
      var j = byUid.get(h.slice(5));
      if (currentView === null) showView('tree');
      if (j === undefined) { fail('This version has no node ' + h.slice(5)); return; }
      document.getElementById('message').hidden = true;
      openNode(j);
      return;
    }
    closePanel();
    showView(h || 'tree');
  }

  document.addEventListener('DOMContentLoaded', function () {
    var v = D.version;
    document.title = 'taxo · version ' + v.id + (v.message ? ' · ' + v.message : '');
    document.getElementById('title').textContent = 'version ' + v.id + (v.message ? ' — ' + v.message : '') +
      (D.diff ? ' (changes from version ' + D.diff.from_version + ')' : '');
    if (D.diff) document.getElementById('nav-changes').hidden = false;
    panel = document.getElementById('panel'); panelBody = document.getElementById('panel-body');
    document.getElementById('panel-close').addEventListener('click', closePanel);
    input = document.getElementById('search'); results = document.getElementById('results');
    input.addEventListener('input', function () { runSearch(input.value); });
    input.addEventListener('focus', function () { if (input.value.trim()) runSearch(input.value); });
    input.addEventListener('keydown', function (ev) {
      if (ev.key === 'ArrowDown') { ev.preventDefault(); setActive(Math.min(active + 1, hits.length - 1)); }
      else if (ev.key === 'ArrowUp') { ev.preventDefault(); setActive(Math.max(active - 1, 0)); }
      else if (ev.key === 'Enter') { ev.preventDefault(); choose(active >= 0 ? active : 0); }
    });
    document.addEventListener('click', function (ev) {
      if (!results.hidden && !results.contains(ev.target) && ev.target !== input) hideResults();
    });
    document.addEventListener('keydown', function (ev) {
      var typing = /^(INPUT|TEXTAREA|SELECT)$/.test((ev.target && ev.target.tagName) || '');
      if (ev.key === '/' && !typing && !ev.ctrlKey && !ev.metaKey && !ev.altKey) { ev.preventDefault(); input.focus(); input.select(); }
      else if (ev.key === 'Escape') {
        if (!results.hidden) { hideResults(); if (typing) input.blur(); }
        else if (typing) input.blur();
        else closePanel();
      }
    });
    if (D.serve) T.versionSelect();
    // the node panel opens below the header, so that search stays usable while it is open
    var header = document.getElementById('top');
    function headerHeight() { document.documentElement.style.setProperty('--header-h', header.offsetHeight + 'px'); }
    headerHeight();
    window.addEventListener('resize', headerHeight);
    drawOutline();
    performance.mark('taxo-outline-drawn');
    var drawn = drawSunburst();
    window.addEventListener('hashchange', route);
    route();
    // performance.now() once the tree is on screen (benchmarks/report_speed.py reads it)
    Promise.resolve(drawn).then(function () {
      requestAnimationFrame(function () { performance.mark('taxo-ready'); T.readyAt = performance.now(); });
    });
    (D.notes || []).forEach(function (n) { console.info('taxo report: ' + n); });
  });
})();
