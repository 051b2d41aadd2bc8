// xaikit view: the page over a bulk store or a bench folder (plain JavaScript, no build step).
// Every text from the data (image names, labels, parameters) reaches the page through
// textContent / text nodes, never as HTML. Every request goes to the server that served the page.
"use strict";
(function () {
  const INDEX = window.XAIKIT_INDEX;
  const STATIC = INDEX ? INDEX.static : null;  // null when served; the export's bounds otherwise
  const BATCH = 40;  // grid rows added at a time (more as the page scrolls)
  const SVG = "http://www.w3.org/2000/svg";
  const state = { columns: [], view: "auto", cmap: INDEX ? INDEX.controls.colormap : "jet",
    alpha: INDEX ? INDEX.controls.alpha : 0.4, sort: "index", desc: false,
    filter: { prediction: "", target: "", correct: "", minConfidence: "", name: "", metric: "", metricMin: "", metricMax: "" },
    order: [] };

  // ------------------------------------------------------------------ helpers
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);  // strings become text nodes
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
    return v.toFixed(digits === undefined ? 3 : digits);
  }
  function option(value, label, selected) {
    const o = el("option", { value: value, text: label });
    if (selected) o.selected = true;
    return o;
  }
  function query() {
    if (STATIC) return "";
    return "?view=" + encodeURIComponent(state.view) + "&cmap=" + encodeURIComponent(state.cmap) +
      "&alpha=" + encodeURIComponent(state.alpha);
  }
  function tileURL(c, i) { return "api/tile/" + c + "/" + i + ".png" + query(); }
  // the stores of a bulk view hold the same images: one address per image (column 0); a bench column has its own
  function imageURL(c, i) { return "api/image/" + (INDEX.kind === "bulk" ? 0 : c) + "/" + i + ".png"; }
  function exported(i) { return !STATIC || i < STATIC.limit; }

  // raw maps: a binary endpoint when served; script files in a static export (fetch is refused on file://)
  const rawWaiting = {};
  window.xaikitRaw = function (c, i, b64) {
    const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
    const key = c + "/" + i;
    if (rawWaiting[key]) { rawWaiting[key](decodeFloats(bytes.buffer)); delete rawWaiting[key]; }
  };
  function decodeFloats(buffer) {
    const view = new DataView(buffer);
    const out = new Float32Array(buffer.byteLength / 4);
    for (let k = 0; k < out.length; k++) out[k] = view.getFloat32(4 * k, true);
    return out;
  }
  function loadRaw(c, i) {
    if (!STATIC) {
      return fetch("api/raw/" + c + "/" + i + ".f32").then((r) => {
        if (!r.ok) throw new Error("raw map: HTTP " + r.status);
        return r.arrayBuffer();
      }).then(decodeFloats);
    }
    if (i >= STATIC.detail_limit) return Promise.reject(new Error("values exported for the first " + STATIC.detail_limit + " images only"));
    return new Promise((resolve, reject) => {
      rawWaiting[c + "/" + i] = resolve;
      const s = el("script", { src: "api/raw/" + c + "/" + i + ".js" });
      s.addEventListener("error", () => reject(new Error("raw map not exported")));
      document.body.append(s);
    });
  }

  // ------------------------------------------------------------------ shared controls
  function drawControls(onChange) {
    const box = document.getElementById("controls");
    const c = INDEX.controls;
    const view = el("select", { id: "view", onchange: (e) => { state.view = e.target.value; onChange(); } },
      ...c.views.map((v) => option(v, v === "abs" ? "|a|" : v, v === state.view)));
    const cmap = el("select", { id: "cmap", onchange: (e) => { state.cmap = e.target.value; onChange(); } },
      el("optgroup", { label: "overlay" }, ...c.colormaps.map((v) => option(v, v, v === state.cmap))),
      el("optgroup", { label: "signed" }, ...c.signed_colormaps.map((v) => option(v, v, v === state.cmap))));
    const alphaText = el("span", { text: String(state.alpha) });
    const alpha = el("input", { id: "alpha", type: "range", min: "0", max: "1", step: "0.05", value: String(state.alpha),
      onchange: (e) => { state.alpha = Number(e.target.value); alphaText.textContent = e.target.value; onChange(); } });
    const group = el("span", { class: "group" }, el("label", {}, "view", view), el("label", {}, "colormap", cmap),
      el("label", {}, "alpha", alpha, alphaText));
    if (STATIC) {
      for (const input of [view, cmap, alpha]) input.disabled = true;
      group.append(el("span", { class: "note", text: "static copy: each column drawn in its method's view (the controls need `xaikit view`)" }));
    }
    box.append(group);
  }

  // ------------------------------------------------------------------ detail view
  function histogram(values) {
    const finite = values.filter((v) => Number.isFinite(v));
    const box = svg("svg", { class: "hist", width: "256", height: "86", viewBox: "0 0 256 86" });
    if (!finite.length) return box;
    let lo = Infinity, hi = -Infinity;
    for (const v of finite) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const bins = 48, counts = new Array(bins).fill(0), span = hi > lo ? hi - lo : 1;
    for (const v of finite) counts[Math.min(bins - 1, Math.floor((v - lo) / span * bins))]++;
    const top = Math.max(...counts), w = 256 / bins;
    counts.forEach((n, k) => {
      const h = n ? Math.max(1, Math.sqrt(n / top) * 66) : 0;  // sqrt: a spike at zero does not flatten the rest
      const bar = svg("rect", { x: (k * w).toFixed(2), y: (70 - h).toFixed(2), width: (w - 0.5).toFixed(2), height: h.toFixed(2) });
      bar.append(svg("title", {}, n + " pixels in [" + fmt(lo + k * span / bins) + ", " + fmt(lo + (k + 1) * span / bins) + ")"));
      box.append(bar);
    });
    if (lo < 0 && hi > 0) {
      const x = (-lo / span * 256).toFixed(2);
      box.append(svg("line", { class: "zero", x1: x, x2: x, y1: "0", y2: "70" }));
    }
    box.append(svg("text", { x: "0", y: "82" }, fmt(lo)));
    box.append(svg("text", { x: "256", y: "82", "text-anchor": "end" }, fmt(hi)));
    return box;
  }

  function panel(c, i, title) {
    const col = INDEX.columns[c];
    const readout = el("div", { class: "readout", text: "move over the map for its values" });
    const stats = el("div", { class: "stats" });
    const histBox = el("div", { class: "histbox" });
    const img = el("img", { class: "big", alt: "map of " + col.label, src: tileURL(c, i), "data-column": String(c), "data-image": String(i) });
    let raw = null;
    loadRaw(c, i).then((values) => {
      raw = values;
      let lo = Infinity, hi = -Infinity, sum = 0, n = 0;
      for (const v of values) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); sum += v; n++; }
      stats.textContent = n ? "min " + fmt(lo) + " · max " + fmt(hi) + " · mean " + fmt(sum / n) + " · " + col.width + "×" + col.height
        : "not computed yet (NaN)";
      histBox.append(histogram(Array.from(values)));
    }).catch((err) => { stats.textContent = String(err.message || err); });
    img.addEventListener("mousemove", (e) => {
      const r = img.getBoundingClientRect();
      const x = Math.min(col.width - 1, Math.max(0, Math.floor((e.clientX - r.left) / r.width * col.width)));
      const y = Math.min(col.height - 1, Math.max(0, Math.floor((e.clientY - r.top) / r.height * col.height)));
      readout.textContent = "x " + x + ", y " + y + ": " + (raw ? fmt(raw[y * col.width + x], 4) : "…");
    });
    const target = col.targets ? col.targets[i] : null;
    const head = title || col.label;
    return el("div", { class: "panel", "data-column": String(c) }, el("h3", { text: head + (target !== null && target !== undefined ? " · class " + target : "") }),
      img, readout, stats, histBox);
  }

  function openDetail(i, columns, info, order) {
    const box = document.getElementById("detail");
    box.replaceChildren();
    const pos = order ? order.indexOf(i) : -1;
    const go = (k) => { if (order && k >= 0 && k < order.length && exported(order[k])) openDetail(order[k], columns, info, order); };
    const close = () => { box.hidden = true; box.replaceChildren(); };
    const bar = el("div", { class: "bar" },
      el("button", { id: "detail-close", onclick: close, text: "close (Esc)" }),
      el("button", { onclick: () => go(pos - 1), text: "← previous", disabled: pos > 0 ? null : "" }),
      el("button", { onclick: () => go(pos + 1), text: "next →", disabled: order && pos < order.length - 1 ? null : "" }),
      el("span", { class: "name", id: "detail-name", text: info.name }), el("span", { class: "stats", text: info.text || "" }));
    const panels = el("div", { class: "panels" });
    panels.append(el("div", { class: "panel" }, el("h3", { text: "image" }),
      el("img", { class: "big", alt: "image", src: imageURL(columns[0], i) })));
    for (const c of columns) panels.append(panel(c, i));
    box.append(el("div", { class: "card", id: "detail-card", "data-image": String(i) }, bar, panels,
      el("p", { class: "note", text: "Each map is scaled on its own (xaikit.viz rules). Values under the cursor are the raw attributions; the histogram's bar heights are square roots of the pixel counts; the red line is zero." })));
    box.hidden = false;
    box.onclick = (e) => { if (e.target === box) close(); };
  }
  document.addEventListener("keydown", (e) => {
    const box = document.getElementById("detail");
    if (e.key === "Escape" && !box.hidden) { box.hidden = true; box.replaceChildren(); }
  });

  // ------------------------------------------------------------------ bulk stores
  function bulk() {
    const img = INDEX.images, n = INDEX.n, metrics = Object.keys(INDEX.metrics || {});
    state.columns = INDEX.columns.length ? [0] : [];
    document.getElementById("subtitle").textContent = n + " images · " + INDEX.columns.length + " column(s) of maps" +
      (INDEX.model ? " · model " + INDEX.model : "") + (STATIC && STATIC.limit < n ? " · static copy of the first " + STATIC.limit + " images" : "");
    const main = document.getElementById("main");
    const status = el("p", { class: "status", id: "status" });
    const table = el("table", { class: "grid", id: "grid" });
    const sentinel = el("div", { id: "sentinel" });
    main.replaceChildren(status, table, sentinel);
    const classes = Array.from(new Set(img.target.concat(img.prediction))).filter((k) => k >= 0).sort((a, b) => a - b);

    // controls: columns, sort, filter
    const box = document.getElementById("controls");
    const chips = el("span", { class: "group", id: "chips" });
    const addSelect = el("select", { id: "add-column" });
    const addButton = el("button", { id: "add-column-button", text: "add column", onclick: () => {
      const c = Number(addSelect.value);
      if (!Number.isNaN(c) && !state.columns.includes(c)) { state.columns.push(c); redraw(); }
    } });
    function drawChips() {
      chips.replaceChildren(el("span", { class: "note", text: "columns" }));
      for (const c of state.columns) {
        chips.append(el("span", { class: "chip", "data-column": String(c) }, INDEX.columns[c].label,
          el("button", { title: "remove", "aria-label": "remove column", text: "×", onclick: () => {
            state.columns = state.columns.filter((k) => k !== c); redraw(); } })));
      }
      addSelect.replaceChildren(...INDEX.columns.filter((col) => !state.columns.includes(col.id)).map((col) => option(col.id, col.label)));
      addSelect.disabled = addButton.disabled = !addSelect.options.length;
    }
    const sortKeys = [["index", "store order"], ["name", "name"], ["prediction", "prediction"], ["target", "target"],
      ["confidence", "confidence"]].concat(metrics.map((m) => ["metric:" + m, m]));
    const sort = el("select", { id: "sort", onchange: (e) => { state.sort = e.target.value; redraw(); } },
      ...sortKeys.map(([v, l]) => option(v, l, v === state.sort)));
    const dir = el("button", { id: "sort-direction", text: "ascending", onclick: () => {
      state.desc = !state.desc; dir.textContent = state.desc ? "descending" : "ascending"; redraw(); } });
    const classSelect = (id, key) => el("select", { id: id, onchange: (e) => { state.filter[key] = e.target.value; redraw(); } },
      option("", "any"), ...classes.map((k) => option(String(k), String(k))));
    const correct = el("select", { id: "filter-correct", onchange: (e) => { state.filter.correct = e.target.value; redraw(); } },
      option("", "any"), option("right", "prediction = target"), option("wrong", "prediction ≠ target"));
    const minConf = el("input", { id: "filter-confidence", type: "number", min: "0", max: "1", step: "0.05", placeholder: "0", size: "4",
      onchange: (e) => { state.filter.minConfidence = e.target.value; redraw(); } });
    const name = el("input", { id: "filter-name", type: "search", placeholder: "name contains", size: "14",
      onchange: (e) => { state.filter.name = e.target.value; redraw(); } });
    const metricFilter = metrics.length ? el("span", { class: "group" },
      el("label", {}, "metric", el("select", { id: "filter-metric", onchange: (e) => { state.filter.metric = e.target.value; redraw(); } },
        option("", "–"), ...metrics.map((m) => option(m, m)))),
      el("input", { id: "filter-metric-min", type: "number", step: "any", placeholder: "min", size: "5",
        onchange: (e) => { state.filter.metricMin = e.target.value; redraw(); } }),
      el("input", { id: "filter-metric-max", type: "number", step: "any", placeholder: "max", size: "5",
        onchange: (e) => { state.filter.metricMax = e.target.value; redraw(); } })) : null;
    box.append(el("span", { class: "group" }, chips, addSelect, addButton));
    drawControls(() => redraw(true));
    box.append(el("span", { class: "group" }, el("label", {}, "sort", sort), dir),
      el("span", { class: "group" }, el("label", {}, "prediction", classSelect("filter-prediction", "prediction")),
        el("label", {}, "target", classSelect("filter-target", "target")), el("label", {}, "right/wrong", correct),
        el("label", {}, "confidence ≥", minConf), name), metricFilter);

    function currentOrder() {
      const f = state.filter, lower = f.name.toLowerCase();
      let rows = [];
      const limit = STATIC ? Math.min(n, STATIC.limit) : n;
      for (let i = 0; i < limit; i++) {
        if (f.prediction !== "" && img.prediction[i] !== Number(f.prediction)) continue;
        if (f.target !== "" && img.target[i] !== Number(f.target)) continue;
        if (f.correct === "right" && img.prediction[i] !== img.target[i]) continue;
        if (f.correct === "wrong" && img.prediction[i] === img.target[i]) continue;
        if (f.minConfidence !== "" && !(img.confidence[i] >= Number(f.minConfidence))) continue;
        if (lower && !img.name[i].toLowerCase().includes(lower)) continue;
        if (f.metric) {  // images without the metric's value are left out while it filters
          const v = INDEX.metrics[f.metric][i];
          if (v === null || (f.metricMin !== "" && v < Number(f.metricMin)) || (f.metricMax !== "" && v > Number(f.metricMax))) continue;
        }
        rows.push(i);
      }
      const key = state.sort;
      if (key !== "index") {
        const value = key === "name" ? (i) => img.name[i] : key.startsWith("metric:") ? (i) => INDEX.metrics[key.slice(7)][i] : (i) => img[key][i];
        const sign = state.desc ? -1 : 1;
        rows.sort((a, b) => {
          const va = value(a), vb = value(b);
          const na = va === null || va === undefined, nb = vb === null || vb === undefined;
          if (na || nb) return na === nb ? a - b : na ? 1 : -1;  // missing values last
          if (va < vb) return -sign;
          if (va > vb) return sign;
          return a - b;
        });
      } else if (state.desc) rows.reverse();
      return rows;
    }

    let shown = 0, observer = null;
    function row(i, eager) {
      const wrong = img.prediction[i] !== img.target[i];
      const loading = eager ? "eager" : "lazy";  // the first screen at once; the rest as it scrolls into view
      const tr = el("tr", { "data-image": String(i) },
        el("td", { class: "num", text: String(i) }),
        el("td", {}, el("img", { class: "tile", loading: loading, alt: "image", src: imageURL(state.columns[0] || 0, i), onclick: () => detail(i) })),
        el("td", { class: "name", text: img.name[i] }),
        el("td", { class: "num" + (wrong ? " wrong" : ""), text: String(img.prediction[i]) }),
        el("td", { class: "num", text: String(img.target[i]) }),
        el("td", { class: "num", text: fmt(img.confidence[i]) }),
        ...metrics.map((m) => el("td", { class: "num", text: fmt(INDEX.metrics[m][i]) })));
      for (const c of state.columns) {
        tr.append(el("td", { "data-column": String(c) }, el("img", { class: "tile", loading: loading, alt: INDEX.columns[c].label,
          src: tileURL(c, i), onclick: () => detail(i) })));
      }
      return tr;
    }
    function more() {
      const body = table.tBodies[0];
      const end = Math.min(state.order.length, shown + BATCH);
      const added = [];
      for (; shown < end; shown++) { const tr = row(state.order[shown], shown < 12); body.append(tr); added.push(tr); }
      return added;
    }
    function detail(i) {
      const cols = state.columns.concat(INDEX.columns.map((c) => c.id).filter((c) => !state.columns.includes(c)));
      const conf = img.confidence[i];
      openDetail(i, cols, { name: img.name[i], text: "prediction " + img.prediction[i] + " · target " + img.target[i] +
        " · confidence " + fmt(conf) }, state.order);
    }
    let first = true;
    function redraw(tilesOnly) {
      if (!tilesOnly) state.order = currentOrder();
      drawChips();
      status.textContent = state.order.length + " of " + n + " images" + (STATIC && STATIC.limit < n ? " (static copy: the first " + STATIC.limit + ")" : "") +
        " · click an image for every method side by side";
      const head = el("tr", {}, el("th", { class: "num", text: "#" }), el("th", { text: "image" }), el("th", { text: "name" }),
        el("th", { class: "num", text: "pred." }), el("th", { class: "num", text: "target" }),
        el("th", { class: "num", text: "conf.", title: "confidence: " + INDEX.confidence_source }),
        ...metrics.map((m) => el("th", { class: "num", text: m })),
        ...state.columns.map((c) => el("th", { "data-column": String(c), text: INDEX.columns[c].label })));
      table.replaceChildren(el("thead", {}, head), el("tbody"));
      shown = 0;
      const added = more();
      if (first) {
        first = false;
        const inView = added.flatMap((tr) => Array.from(tr.querySelectorAll("img"))).filter((im) => im.getBoundingClientRect().top < window.innerHeight);
        Promise.all(inView.map((im) => im.decode().catch(() => null))).then(() => requestAnimationFrame(() => {
          performance.mark("xaikit-grid-painted");
          document.body.dataset.gridPainted = String(Math.round(performance.now()));
        }));
      }
      if (observer) observer.disconnect();
      observer = new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) more(); }, { rootMargin: "600px" });
      observer.observe(sentinel);
    }
    redraw();
  }

  // ------------------------------------------------------------------ bench folders
  function bench() {
    const main = document.getElementById("main");
    const env = INDEX.environment || {};
    document.getElementById("title").textContent = "xaikit bench: " + INDEX.title;
    document.getElementById("subtitle").textContent = [env.date, env.cpu, env.cores ? env.cores + " core(s)" : null].filter(Boolean).join(" · ");
    const tcols = INDEX.table_columns;
    let sortKey = null, desc = false;
    const table = el("table", { class: "report", id: "report" });
    const mapsBox = el("section", { id: "maps" });
    function direction(key) { const c = tcols.find((t) => t.key === key); return c ? c.direction : 0; }
    function drawTable() {
      let rows = INDEX.table.map((r, k) => [r, k]);
      if (sortKey) {
        rows.sort((a, b) => {
          let va = a[0][sortKey], vb = b[0][sortKey];
          if (direction(sortKey) === -2 && typeof va === "number") va = Math.abs(va);
          if (direction(sortKey) === -2 && typeof vb === "number") vb = Math.abs(vb);
          const na = va === null || va === undefined, nb = vb === null || vb === undefined;
          if (na || nb) return na === nb ? a[1] - b[1] : na ? 1 : -1;
          const s = desc ? -1 : 1;
          return va < vb ? -s : va > vb ? s : a[1] - b[1];
        });
      }
      const heads = [["model", "model"], ["label", "method"], ["backend", "backend"]].concat(tcols.map((c) => [c.key, c.header + (c.direction === 1 ? " ↑" : c.direction === -1 ? " ↓" : c.direction === -2 ? " →0" : "")]));
      const head = el("tr", {}, ...heads.map(([key, label]) => {
        const th = el("th", { "data-key": key, text: label, title: "sort by " + label, class: key === sortKey ? "sorted" : null,
          "data-arrow": key === sortKey ? (desc ? " ▼" : " ▲") : null });
        th.addEventListener("click", () => { if (sortKey === key) desc = !desc; else { sortKey = key; desc = false; } drawTable(); });
        return th;
      }), el("th", { text: "maps" }));
      const body = el("tbody", {}, ...rows.map(([r]) => el("tr", { class: r.control ? "control" : null },
        el("td", { text: String(r.model) }), el("td", { text: String(r.label) }), el("td", { text: String(r.backend) }),
        ...tcols.map((c) => el("td", { class: "num", text: r.cells[c.key] })),
        el("td", {}, r.maps === null || r.maps === undefined ? "–" : el("button", { class: "show-maps", "data-column": String(r.maps), text: "maps",
          onclick: () => showMaps(r.maps) })))));
      table.replaceChildren(el("thead", {}, head), body);
    }
    function showMaps(c) {
      const col = INDEX.columns[c];
      const grid = el("div", { class: "maps-grid" });
      const limit = STATIC ? Math.min(col.n, STATIC.limit) : col.n;
      const siblings = INDEX.columns.filter((k) => k.group === col.group).map((k) => k.id);
      const order = [...Array(limit).keys()];
      const cols = [c].concat(siblings.filter((k) => k !== c));
      for (let i = 0; i < limit; i++) {
        grid.append(el("figure", {}, el("img", { class: "tile", alt: col.label, src: tileURL(c, i),
          onclick: () => openDetail(i, cols, { name: col.group + " · image " + i, text: "every row of this model, side by side" }, order) }),
        el("figcaption", { text: "image " + i + (col.targets && col.targets.length ? " · class " + col.targets[i] : "") })));
      }
      mapsBox.replaceChildren(el("h2", { text: "Maps of " + col.group + " · " + col.label }),
        el("p", { class: "note", text: "The bench keeps the maps of its sample, not its pixels: maps are drawn over flat grey. Click a map for every method of this model side by side." }), grid);
      mapsBox.dataset.column = String(c);
      mapsBox.scrollIntoView({ block: "start" });
      mapsBox.redraw = () => showMaps(c);
    }
    function scatter() {
      const pts = INDEX.table.filter((r) => typeof r.time === "number" && r.time > 0 && typeof r.insertion === "number" && typeof r.deletion === "number");
      const W = 640, H = 360, L = 56, B = 40, T = 12, R = 16;
      const box = svg("svg", { class: "scatter", id: "scatter", width: String(W), height: String(H), viewBox: "0 0 " + W + " " + H });
      const readout = el("p", { class: "note", id: "scatter-readout", text: "hover a point for its row; click it for its maps" });
      if (!pts.length) return el("p", { class: "note", text: "no row has both a time and the deletion/insertion metrics" });
      const xs = pts.map((r) => Math.log10(r.time)), ys = pts.map((r) => r.insertion - r.deletion);
      let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys, 0), y1 = Math.max(...ys, 0);
      if (x1 - x0 < 0.5) { x0 -= 0.25; x1 += 0.25; }
      if (y1 - y0 < 1e-6) { y1 += 0.1; }
      const px = (x) => L + (x - x0) / (x1 - x0) * (W - L - R), py = (y) => H - B - (y - y0) / (y1 - y0) * (H - B - T);
      box.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: py(0), y2: py(0) }));
      box.append(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
      for (let e = Math.ceil(x0); e <= Math.floor(x1); e++) {
        const tick = e >= 0 ? Math.pow(10, e) + " s" : e >= -3 ? Math.round(Math.pow(10, e + 3)) + " ms" : Math.round(Math.pow(10, e + 6)) + " µs";
        box.append(svg("text", { x: px(e), y: H - B + 14, "text-anchor": "middle" }, tick));
      }
      box.append(svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" }, "time per image (log scale)"));
      box.append(svg("text", { x: 4, y: T + 4 }, fmt(y1, 2)));
      box.append(svg("text", { x: 4, y: H - B }, fmt(y0, 2)));
      box.append(svg("text", { x: 12, y: H / 2, transform: "rotate(-90 12 " + H / 2 + ")", "text-anchor": "middle" }, "insertion − deletion AUC ↑"));
      const models = Array.from(new Set(pts.map((r) => r.model)));
      const palette = ["#2659c9", "#d1495b", "#2e933c", "#edae49", "#66a182", "#8d6a9f", "#00798c", "#9c6644"];
      pts.forEach((r, k) => {
        const c = r.control ? "#888" : palette[models.indexOf(r.model) % palette.length];
        const label = r.model + " · " + r.label + " (" + r.backend + ")";
        const dot = svg("circle", { cx: px(xs[k]).toFixed(1), cy: py(ys[k]).toFixed(1), r: "5", fill: c, "data-label": label });
        dot.append(svg("title", {}, label));
        dot.addEventListener("mouseenter", () => { readout.textContent = label + ": " + r.cells.time + " per image, insertion − deletion " + fmt(ys[k]); });
        dot.addEventListener("click", () => { if (r.maps !== null && r.maps !== undefined) showMaps(r.maps); });
        box.append(dot);
        if (pts.length <= 24) {  // few points: name them on the plot too
          const right = px(xs[k]) > W / 2;  // labels of the right half end at their point (inside the plot)
          box.append(svg("text", { x: (px(xs[k]) + (right ? -7 : 7)).toFixed(1), y: (py(ys[k]) + 3).toFixed(1),
            "text-anchor": right ? "end" : "start" }, r.label + " (" + r.backend + ")"));
        }
      });
      return el("div", {}, box, readout, el("p", { class: "note", text: "colours: " + models.join(", ") + " (grey: controls)" }));
    }
    drawControls(() => { if (mapsBox.redraw) mapsBox.redraw(); });
    main.replaceChildren(el("h2", { text: "Summary" }), el("p", { class: "note", text: "Click a column header to sort (again: reverse). ↑ higher is better, ↓ lower, →0 closer to zero (sorted by |value|)." }),
      table, el("h2", { text: "Time against quality" }), scatter(), mapsBox);
    drawTable();
  }

  if (!INDEX) {
    document.getElementById("main").replaceChildren(el("p", { text: "The index of this view did not load (api/index.js)." }));
  } else if (INDEX.kind === "bench") bench();
  else bulk();
})();
