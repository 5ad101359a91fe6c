/* taxo report: node history, the Changes, Analyses and About pages, and the version switcher of `taxo serve`.
   Text from the data is placed with textContent only (T.el's text and string children). */
(function () {
  'use strict';
  var T = window.TAXO;
  if (!T || !T.D) return;
  var D = T.D, N = T.N, el = T.el, clear = T.clear;

  function vlabel(id) { return 'version ' + id + (id === D.version.id ? ' (this one)' : ''); }

  T.historyList = function (j, evs, box) {
    var ul = el('ul', {cls: 'history'});
    evs.forEach(function (e) {
      ul.appendChild(el('li', {cls: 'h-' + e[1]}, el('span', {cls: 'hv', text: vlabel(e[0])}), el('span', {text: e[2]})));
    });
    if (!evs.length) ul.appendChild(el('li', {cls: 'muted', text: 'no other version holds this node'}));
    box.appendChild(ul);
    var first = evs.length ? evs[0][0] : D.version.id;
    box.appendChild(el('p', {cls: 'muted', text: 'First seen in version ' + first + '; id ' + N.uid[j] + '. `taxo history ' +
      T.shortId(N.uid[j]) + '` prints the same events.'}));
  };

  // -------------------------------------------------------------------------------------------- changes
  function ref(uid, name) {
    var j = T.byUid.get(uid);
    if (j !== undefined) return T.nodeLink(j, name === undefined || name === null ? N.name[j] : name);
    return el('span', {cls: 'gone', text: (name === undefined || name === null ? uid : name), title: uid + ' (not in this version)'});
  }
  function refs(list) {
    var f = document.createDocumentFragment();
    if (!list.length) { f.appendChild(el('span', {cls: 'muted', text: 'nothing left'})); return f; }
    list.forEach(function (r, n) { if (n) f.appendChild(document.createTextNode(', ')); f.appendChild(ref(r.uid, r.name)); });
    return f;
  }
  function lvl(e) { return el('span', {cls: 'lvl', text: 'L' + e.level}); }
  var LINES = {
    added: function (e) { return [lvl(e), ref(e.uid, e.name), ' under ', e.parent_uid ? ref(e.parent_uid, e.parent_name) : '(top)', ' · ' + e.member_count + ' values']; },
    removed: function (e) {
      var out = [lvl(e), el('span', {cls: 'gone', text: e.name}), ' (' + e.reason + ', ' + e.member_count + ' values)'];
      if (e.reassigned_to.length) { out.push(' → '); out.push(refs(e.reassigned_to)); }
      return out;
    },
    renamed: function (e) { return [lvl(e), el('span', {cls: 'old', text: e.old_name}), ' → ', ref(e.uid, e.new_name)]; },
    redescribed: function (e) { return [lvl(e), ref(e.uid, e.name), ': ', el('span', {cls: 'old', text: e.old_description}), ' → ', el('span', {text: e.new_description})]; },
    moved: function (e) {
      return [lvl(e), ref(e.uid, e.name), ': ', e.old_parent_uid ? el('span', {cls: 'old', text: e.old_parent_name || e.old_parent_uid}) : '(top)',
        ' → ', e.new_parent_uid ? ref(e.new_parent_uid, e.new_parent_name) : '(top)', el('span', {cls: 'cause', text: e.cause})];
    },
    merged: function (e) { return [lvl(e), el('span', {cls: 'gone', text: e.name}), ' → ', refs(e.survivors)]; },
    split: function (e) { return [lvl(e), el('span', {cls: 'gone', text: e.name}), ' → ', refs(e.parts)]; },
    values_moved: function (e) {
      return [el('span', {cls: 'val', text: e.text}), ': ', el('span', {cls: 'old', text: e.old_parent_name || e.old_parent_uid}), ' → ',
        ref(e.new_parent_uid, e.new_parent_name), el('span', {cls: 'cause', text: e.cause})];
    },
    values_added: function (e) { return [el('span', {cls: 'val', text: e})]; },
    values_removed: function (e) { return [el('span', {cls: 'val', text: e})]; }
  };
  var KINDS = ['added', 'removed', 'renamed', 'redescribed', 'moved', 'merged', 'split', 'values_moved', 'values_added', 'values_removed'];

  T.views.changes = function (box) {
    var d = D.diff;
    clear(box);
    box.appendChild(el('h1', {text: 'Changes from version ' + d.from_version + ' to version ' + d.to_version}));
    var tb = el('tbody'), total = 0;
    KINDS.forEach(function (k) {
      total += d.counts[k];
      var cell = d.counts[k] ? el('a', {href: '#changes', text: k, on: {click: function (ev) {
        ev.preventDefault(); var s = document.getElementById('ch-' + k); if (s) s.scrollIntoView();
      }}}) : el('span', {text: k});
      tb.appendChild(el('tr', {'data-kind': k}, el('td', null, cell), el('td', {cls: 'num', text: String(d.counts[k])})));
    });
    box.appendChild(el('table', {cls: 'grid counts', id: 'change-counts'}, el('thead', null, el('tr', null, el('th', {text: 'kind'}), el('th', {cls: 'num', text: 'count'}))), tb));
    if (!total) { box.appendChild(el('p', {text: 'No differences.'})); return; }
    box.appendChild(el('p', {cls: 'muted', text: 'The same counts as `taxo diff ' + d.from_version + ' ' + d.to_version + '`. Names link to the node in this version.'}));
    KINDS.forEach(function (k) {
      var list = d[k];
      if (!d.counts[k]) return;
      var ul = el('ul', {cls: 'changes'});
      list.forEach(function (e) {
        var li = el('li');
        LINES[k](e).forEach(function (part) { li.appendChild(typeof part === 'string' ? document.createTextNode(part) : part); });
        ul.appendChild(li);
      });
      var sec = el('section', {id: 'ch-' + k, cls: 'chsec'}, el('h2', {text: k.replace('_', ' ') + ' (' + d.counts[k] + ')'}), ul);
      if (list.length < d.counts[k]) sec.appendChild(el('p', {cls: 'muted', text: 'The first ' + list.length + ' of ' + d.counts[k] + ' are listed; `taxo diff --json` has all.'}));
      box.appendChild(sec);
    });
  };

  // ------------------------------------------------------------------------------------------- analyses
  T.views.analyses = function (box) {
    clear(box);
    box.appendChild(el('h1', {text: 'Analyses'}));
    box.appendChild(el('h2', {text: 'Prevalence per level'}));
    box.appendChild(el('p', {cls: 'muted', text: 'Share of all occurrences (' + (D.size_key === 'weight' ? 'value weights' : 'value counts') +
      ') under each node; the 25 largest nodes of the chosen level.'}));
    var sel = el('select', {id: 'prev-level', 'aria-label': 'Level'});
    for (var l = D.levels; l >= 1; l--) sel.appendChild(el('option', {value: String(l), text: 'level ' + l + (l === D.levels ? ' (top)' : '')}));
    box.appendChild(el('p', null, el('label', {text: 'Level '}), sel));
    var chart = el('div', {id: 'prevalence', cls: 'chart prev'});
    box.appendChild(chart);
    function draw() {
      var level = Number(sel.value), idx = [];
      for (var j = 0; j < N.uid.length; j++) if (N.level[j] === level) idx.push(j);
      idx.sort(function (a, b) { return N.pct[b] - N.pct[a]; });
      var shown = idx.slice(0, 25).reverse();
      var height = Math.max(220, shown.length * 24 + 60);
      chart.style.height = height + 'px';
      Plotly.react(chart, [{
        type: 'bar', orientation: 'h', x: shown.map(function (j) { return N.pct[j]; }),
        y: shown.map(function (j) { return String(j); }),
        text: shown.map(function (j) { return T.fmtPct(N.pct[j]); }), textposition: 'outside', cliponaxis: false,
        customdata: shown.map(function (j) { return T.plotlyText(N.name[j]); }),
        hovertemplate: '%{customdata}<br>%{x:.3f}% of occurrences<extra></extra>', marker: {color: '#4c78a8'}
      }], {
        height: height, margin: {l: 260, r: 60, t: 10, b: 40}, xaxis: {title: {text: '% of occurrences'}, ticksuffix: '%'},
        yaxis: {type: 'category', tickmode: 'array', tickvals: shown.map(function (j) { return String(j); }),
          ticktext: shown.map(function (j) { var s = N.name[j]; return T.plotlyText(s.length > 40 ? s.slice(0, 39) + '…' : s); }), automargin: true},
        paper_bgcolor: 'rgba(0,0,0,0)', plot_bgcolor: 'rgba(0,0,0,0)'
      }, {responsive: true, displaylogo: false});
      chart.removeAllListeners && chart.removeAllListeners('plotly_click');
      chart.on('plotly_click', function (ev) { var p = ev.points && ev.points[0]; if (p) T.go(Number(p.y)); });
      var note = document.getElementById('prev-note');
      if (note) note.textContent = idx.length > 25 ? 'The 25 largest of ' + idx.length + ' nodes.' : idx.length + ' nodes.';
    }
    box.appendChild(el('p', {cls: 'muted', id: 'prev-note'}));
    sel.addEventListener('change', draw);
    if (window.Plotly) draw(); else chart.textContent = 'plotly.js could not be loaded.';
    box.appendChild(el('h2', {text: 'Other analyses'}));
    if (!D.analyses.length) {
      box.appendChild(el('p', {cls: 'muted', text: 'No other analyses in this report. Write their plots (PNG or SVG) into a folder and pass it with `taxo report ' +
        D.version.id + ' --analyses DIR`.'}));
      return;
    }
    var grid = el('div', {cls: 'figs'});
    D.analyses.forEach(function (a) {
      grid.appendChild(el('figure', null, el('img', {src: a.file, alt: a.title, loading: 'lazy'}), el('figcaption', {text: a.title})));
    });
    box.appendChild(grid);
  };

  // ---------------------------------------------------------------------------------------------- about
  function valueCell(v) {
    if (v === null || v === undefined) return el('span', {cls: 'muted', text: '—'});
    if (typeof v === 'object') return el('pre', {text: JSON.stringify(v, null, 2)});
    return el('span', {text: String(v)});
  }
  function kvTable(obj, id) {
    var tb = el('tbody');
    Object.keys(obj).forEach(function (k) { tb.appendChild(el('tr', null, el('th', {text: k}), el('td', null, valueCell(obj[k])))); });
    return el('table', {cls: 'kv', id: id}, tb);
  }
  T.views.about = function (box) {
    clear(box);
    var v = D.version;
    box.appendChild(el('h1', {text: 'About version ' + v.id}));
    box.appendChild(kvTable({id: v.id, parent: v.parent_id, created: v.created_at, kind: v.kind, message: v.message, author: v.author,
      checksum: v.checksum, levels: v.n_levels, counts: v.counts}, 'about-version'));
    box.appendChild(el('h2', {text: 'Manifest'}));
    box.appendChild(el('p', {cls: 'muted', text: 'Inputs and their checksums, model, method and parameters, seed, package versions, as recorded when the version was written.'}));
    box.appendChild(kvTable(D.manifest, 'about-manifest'));
    box.appendChild(el('h2', {text: 'All versions'}));
    var tb = el('tbody');
    D.versions.forEach(function (x) {
      tb.appendChild(el('tr', {cls: x.id === v.id ? 'hl' : null}, el('td', {cls: 'num', text: String(x.id)}), el('td', {text: x.parent_id === null ? '' : String(x.parent_id)}),
        el('td', {text: x.created_at}), el('td', {text: x.kind}), el('td', {text: x.message}), el('td', {text: x.author || ''})));
    });
    box.appendChild(el('table', {cls: 'grid'}, el('thead', null, el('tr', null, ['id', 'parent', 'created', 'kind', 'message', 'author'].map(function (h) {
      return el('th', {text: h});
    }).reduce(function (f, th) { f.appendChild(th); return f; }, document.createDocumentFragment()))), tb));
    var e = D.excerpts || {};
    box.appendChild(el('h2', {text: 'This report'}));
    box.appendChild(kvTable({generated: D.generated_at, 'sizes from': D.size_key === 'weight' ? 'value weights' : 'value counts',
      'extraction records': e.records || 0, 'excerpts': e.records ? 'up to ' + e.per_node + ' per node, redacted (' + e.redactions + ' redactions)' : 'none',
      'nearest nodes': D.neighbours ? 'cosine similarity of node centroids' : 'not computed', notes: (D.notes || []).join('; ') || null}, 'about-report'));
  };

  // ---------------------------------------------------------------------------------- taxo serve: versions
  T.versionSelect = function () {
    var sel = document.getElementById('version-select');
    sel.hidden = false;
    D.versions.slice().reverse().forEach(function (x) {
      var o = el('option', {value: String(x.id), text: 'version ' + x.id + (x.message ? ' — ' + x.message.slice(0, 40) : '')});
      if (x.id === D.version.id) o.selected = true;
      sel.appendChild(o);
    });
    sel.addEventListener('change', function () { location.href = '/v/' + sel.value + '/'; });
  };
})();
