"use strict";
// The composer page. It talks to the server only through the JSON API under /api.

(() => {
  const $ = (id) => document.getElementById(id);
  const SESSION_KEY = "tunesmith-session";
  const SESSION_MAX = 50;
  const SOURCE_NAMES = {abc: "ABC", kern: "kern", musicxml: "MusicXML"};
  const CONTROLS = ["meter", "key", "mode", "rhythm"];   // pickers filled from the model's card

  let models = [];
  let limits = null;
  let defaultModel = null;
  let busy = false;

  // ---- small helpers ------------------------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "className") node.className = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, options);
    } catch (err) {
      throw new Error("the server cannot be reached");
    }
    let body = null;
    try { body = await response.json(); } catch (err) { body = null; }
    if (!response.ok) {
      const detail = body && typeof body.detail === "string" ? body.detail : `${response.status} ${response.statusText}`;
      const error = new Error(detail);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function status(text, kind = "") {
    const node = $("status");
    node.textContent = text;
    node.className = kind;
  }

  function setBusy(on) {
    busy = on;
    document.body.classList.toggle("busy", on);
    const button = $("compose");
    button.disabled = on || !models.length;
    button.setAttribute("aria-busy", on ? "true" : "false");
    button.textContent = on ? "Composing\u2026" : "Compose";
    $("result").setAttribute("aria-busy", on ? "true" : "false");
  }

  // ---- models --------------------------------------------------------------------------------

  function currentModel() {
    return models.find((m) => m.name === $("model").value) || null;
  }

  function describe(m) {
    const bits = [];
    bits.push(m.label || m.format);
    if (m.corpus) bits.push(`trained on ${m.corpus}` + (m.pieces ? ` (${Number(m.pieces).toLocaleString()} pieces)` : ""));
    if (typeof m.val_bits === "number") bits.push(`${m.val_bits.toFixed(2)} bits/token`);
    if (m.judged && m.judged.pieces) bits.push(`composed: ${m.judged.valid} of ${m.judged.pieces} valid, ${m.judged.copies} copies`);
    if (m.description) bits.unshift(m.description);
    if (m.problem) bits.push(`card: ${m.problem}`);
    return bits.join(" \u00b7 ");
  }

  function showModel() {
    const m = currentModel();
    if (!m) return;
    $("model-card").textContent = describe(m);
    $("temperature").value = m.defaults.temperature;
    $("temperature-value").textContent = Number(m.defaults.temperature).toFixed(2);
    $("length").value = m.defaults.length;
    $("checked").checked = m.defaults.checked;
    $("primer").placeholder = m.defaults.primer ? m.defaults.primer : (m.format === "abc" ? "X:1\nM:6/8\nK:D\n" : "");
    const styles = $("style");
    styles.replaceChildren(el("option", {value: "", text: "the model picks"}));
    for (const s of m.styles) styles.append(el("option", {value: s, text: s}));
    $("style-row").hidden = !m.styles.length;
    $("primer-text-row").hidden = m.primer === "file";
    $("primer-file-row").hidden = m.primer !== "file";
    showControls(m);
  }

  // the model's controls (meter, key, mode, tune type) as pickers: only those it knows values of
  function showControls(m) {
    const known = m.controls || {};
    let any = false;
    for (const name of CONTROLS) {
      const values = Object.entries(known[name] || {}).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
      const select = $(name);
      select.replaceChildren(el("option", {value: "", text: "any"}));
      for (const [value, count] of values) select.append(el("option", {value, text: `${value} (${count})`}));
      $(`${name}-row`).hidden = !values.length;
      any = any || values.length > 0;
    }
    $("controls-row").hidden = !any;
  }

  function loadTune() {
    const file = $("tune-file").files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => {
      $("primer").value = String(reader.result).replace(/\r\n/g, "\n");
      $("continuation").checked = true;
      $("adapt").disabled = false;
    };
    reader.onerror = () => status("the tune file cannot be read", "error");
    reader.readAsText(file);
  }

  async function loadModels() {
    try {
      const answer = await api("/api/models");
      models = answer.models;
      limits = answer.limits;
      defaultModel = answer.default;
    } catch (err) {
      status(`Cannot list the models: ${err.message}`, "error");
      return;
    }
    const select = $("model");
    select.replaceChildren();
    for (const m of models) {
      const label = `${m.name} \u2014 ${m.format}` + (m.corpus ? `, ${m.corpus}` : "");
      select.append(el("option", {value: m.name, text: label}));
    }
    if (limits) {
      $("temperature").min = limits.temperature[0];
      $("temperature").max = limits.temperature[1];
      $("length").min = limits.length[0];
      $("length").max = limits.length[1];
      $("count").max = limits.count;
      $("seed").max = limits.seed;
      $("primer").maxLength = limits.primer_chars;
    }
    if (!models.length) {
      $("model-card").textContent = "No models found. Train one, or put a model folder on the search path " +
        "(see 'tunesmith models'), then reload.";
    } else {
      // the server's default (what `tunesmith compose` uses), else the first
      const preferred = models.find((m) => m.name === defaultModel) || models[0];
      select.value = preferred.name;
      showModel();
    }
    $("harmonize-row").hidden = !harmonizer();
    setBusy(false);
  }

  // ---- composing -----------------------------------------------------------------------------

  function readFile(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => {
        const bytes = new Uint8Array(reader.result);
        let binary = "";
        for (let i = 0; i < bytes.length; i += 0x8000) {
          binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
        }
        resolve(btoa(binary));
      };
      reader.onerror = () => reject(new Error(`${file.name} cannot be read`));
      reader.readAsArrayBuffer(file);
    });
  }

  // a file as the API takes it ({name, data in base64}), refused here when over the server's limit
  async function sentFile(file, what) {
    if (limits && file.size > limits.primer_bytes) {
      throw new Error(`the ${what} file is ${Math.ceil(file.size / 1024)} KB; the limit is ${limits.primer_bytes / 1024} KB`);
    }
    return {name: file.name, data: await readFile(file)};
  }

  async function request() {
    const m = currentModel();
    const body = {
      model: m.name,
      temperature: Number($("temperature").value),
      length: Number($("length").value),
      count: Number($("count").value),
      checked: $("checked").checked,
    };
    const seed = $("seed").value.trim();
    if (seed !== "") body.seed = Number(seed);
    if (!$("style-row").hidden && $("style").value) body.style = $("style").value;
    if (m.primer === "file") {
      const file = $("primer-file").files[0];
      if (file) body.primer_file = await sentFile(file, "primer");
    } else if ($("primer").value) {
      body.primer = $("primer").value;
      if ($("continuation").checked) body.continuation = true;
      if ($("continuation").checked && $("adapt").checked) body.adapt = true;
    }
    for (const name of CONTROLS) {
      if (!$(`${name}-row`).hidden && $(name).value) body[name] = $(name).value;
    }
    return body;
  }

  async function compose(event) {
    event.preventDefault();
    if (busy || !currentModel()) return;
    setBusy(true);
    const started = performance.now();
    const tick = setInterval(() => {
      status(`Composing\u2026 ${((performance.now() - started) / 1000).toFixed(0)} s`, "busy");
    }, 500);
    status("Composing\u2026", "busy");
    try {
      const body = await request();
      const answer = await api("/api/compose", {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
      });
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const failed = answer.failed ? ` (${answer.failed} did not pass the check in time)` : "";
      status(`Composed ${answer.pieces.length} ${answer.pieces.length === 1 ? "piece" : "pieces"} in ${seconds} s, ` +
             `seed ${answer.seed}${failed}.`, "done");
      remember(answer.pieces);
      await showPieces(answer.pieces, false);
    } catch (err) {
      status(err.message, "error");
    } finally {
      clearInterval(tick);
      setBusy(false);
    }
  }

  // ---- harmonizing ---------------------------------------------------------------------------

  // the model that writes voices on a grid (the four-part chorale), or null where none is on the path
  function harmonizer() {
    const voiced = models.filter((m) => m.kind === "grid" && m.voices);
    return voiced.find((m) => m.name === "chorale") || voiced[0] || null;
  }

  async function harmonize(source) {
    const m = harmonizer();
    if (busy || !m) return;
    setBusy(true);
    const started = performance.now();
    status(`Harmonizing with ${m.name}…`, "busy");
    try {
      const body = {model: m.name, count: 1};
      const seed = $("seed").value.trim();
      if (seed !== "") body.seed = Number(seed);
      if (source.pieceId) {
        body.piece_id = source.pieceId;
      } else {
        body.melody_file = await sentFile(source.file, "melody");
      }
      const answer = await api("/api/harmonize", {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
      });
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      status(`Harmonized in ${seconds} s, seed ${answer.seed}: the melody is the soprano, note for note.`, "done");
      remember(answer.pieces);
      await showPieces(answer.pieces, false);
    } catch (err) {
      status(err.message, "error");
    } finally {
      setBusy(false);
    }
  }

  // ---- showing a piece -----------------------------------------------------------------------

  function clean(svg) {
    // Verovio's SVG holds no script; make sure nothing active gets in all the same
    for (const bad of svg.querySelectorAll("script, foreignObject, iframe, object, embed")) bad.remove();
    for (const node of [svg, ...svg.querySelectorAll("*")]) {
      for (const attr of [...node.attributes]) {
        const name = attr.name.toLowerCase();
        const href = name === "href" || name.endsWith(":href");
        if (name.startsWith("on") || (href && !attr.value.startsWith("#"))) node.removeAttribute(attr.name);
      }
    }
    return svg;
  }

  async function addPage(holder, piece, page) {
    const response = await fetch(`${piece.files.svg}?page=${page}`);
    if (!response.ok) throw new Error(`sheet music page ${page}: ${response.status}`);
    const parsed = new DOMParser().parseFromString(await response.text(), "image/svg+xml");
    const root = parsed.documentElement;
    if (root.nodeName !== "svg") throw new Error("the sheet music is not SVG");
    const svg = document.importNode(clean(root), true);
    svg.classList.add("page");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `sheet music of ${piece.model} piece ${piece.number}, page ${page}`);
    holder.append(svg);
    crop(svg);
  }

  // Verovio draws on a whole page of paper, its logo in the footer: show only the part with music on
  // it, as wide as the column. Its drawing is an inner <svg> scaled to fill the outer one; the inner one
  // gets its own size in its own units, and the outer one a viewBox around the music in those units.
  function crop(svg) {
    const inner = svg.querySelector("svg");
    const view = inner && inner.viewBox && inner.viewBox.baseVal;
    if (!view || !view.width) return;
    const frame = inner.getBoundingClientRect();
    if (!frame.width) return;
    let left = Infinity, top = Infinity, right = -Infinity, bottom = -Infinity;
    for (const node of inner.querySelectorAll("path, use, text, rect, polygon, polyline, ellipse, circle, line")) {
      if (node.closest("defs, .pgFoot")) continue;
      const r = node.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      left = Math.min(left, r.left); top = Math.min(top, r.top);
      right = Math.max(right, r.right); bottom = Math.max(bottom, r.bottom);
    }
    if (!(right > left && bottom > top)) return;      // nothing measured: shown as it is
    const scale = view.width / frame.width;           // inner units per screen pixel
    const margin = 0.02 * (right - left);
    const x = view.x + (left - margin - frame.left) * scale;
    const y = view.y + (top - margin - frame.top) * scale;
    inner.setAttribute("width", view.width);
    inner.setAttribute("height", view.height);
    svg.setAttribute("viewBox", `${x} ${y} ${(right - left + 2 * margin) * scale} ${(bottom - top + 2 * margin) * scale}`);
    svg.setAttribute("overflow", "hidden");
    svg.removeAttribute("width");
    svg.removeAttribute("height");
  }

  async function synthesize(audio, note, piece) {
    note.textContent = "synthesizing in your browser\u2026";
    const response = await fetch(piece.files.midi);
    if (!response.ok) throw new Error(`the MIDI file: ${response.status}`);
    const blob = await TunesmithSynth.midiToWav(await response.arrayBuffer());
    if (audio.dataset.blob) URL.revokeObjectURL(audio.dataset.blob);
    const url = URL.createObjectURL(blob);
    audio.dataset.blob = url;
    audio.dataset.kind = "synth";
    audio.src = url;
    note.textContent = "synthesized in your browser";
    const article = audio.closest(".piece");
    const link = article && article.querySelector("a.download-synth");
    if (link) link.href = url;
    else if (article && !article.querySelector("a.download-wav")) {     // the sound heard, to keep
      article.querySelector(".downloads").append(el("a", {
        href: url, download: `${piece.model}-${piece.number}-${piece.id.slice(0, 6)}-synth.wav`,
        className: "download-synth", text: "WAV (synthesized)"}));
    }
  }

  function pieceView(piece) {
    const title = `${piece.model} \u2014 piece ${piece.number}`;
    const badges = el("p", {className: "badges"});
    if (piece.style) badges.append(el("span", {className: "badge", text: `style ${piece.style}`}));
    badges.append(el("span", {className: "badge", text: `seed ${piece.seed}`}));
    if (piece.passed === true) badges.append(el("span", {className: "badge good", text: "passed the check"}));
    if (piece.passed === false) badges.append(el("span", {className: "badge warn", text: "did not pass the check"}));
    if (!piece.ended) badges.append(el("span", {className: "badge warn", text: "cut at the length"}));

    const sheet = el("div", {className: "sheet"});
    const audio = el("audio", {controls: true, preload: "auto"});
    const note = el("span", {className: "audio-note"});
    const player = el("div", {className: "player"}, audio, note);

    const downloads = el("p", {className: "downloads"}, "Download: ");
    const names = {source: SOURCE_NAMES[piece.source_format] || "source", midi: "MIDI", musicxml: "MusicXML", wav: "WAV"};
    const ext = {abc: ".abc", kern: ".krn", musicxml: ".musicxml"};
    const suffix = {source: ext[piece.source_format] || ".txt", midi: ".mid", musicxml: ".musicxml", wav: ".wav"};
    for (const fmt of ["source", "midi", "musicxml", "wav"]) {
      if (fmt === "musicxml" && piece.source_format === "musicxml") continue;   // the source is MusicXML
      if (!piece.files[fmt]) continue;
      downloads.append(el("a", {href: piece.files[fmt], download: `${piece.model}-${piece.number}-${piece.id.slice(0, 6)}${suffix[fmt]}`,
                                className: `download-${fmt}`, text: names[fmt]}), " ");
    }

    const article = el("article", {className: "piece", "data-id": piece.id}, el("h3", {text: title}), badges, sheet, player, downloads);
    const voiced = harmonizer();
    if (voiced && piece.model !== voiced.name) {
      const button = el("button", {type: "button", className: "link harmonize", text: `Harmonize in four parts (${voiced.name})`});
      button.addEventListener("click", () => harmonize({pieceId: piece.id}));
      downloads.append(" ", button);
    }
    if (piece.text) {
      article.append(el("details", {}, el("summary", {text: `${names.source} text`}), el("pre", {text: piece.text})));
    }
    const errors = Object.entries(piece.errors || {}).filter(([fmt]) => !(fmt === "wav" && piece.files.midi));
    if (errors.length) {
      const list = el("ul", {className: "errors"});
      for (const [fmt, why] of errors) list.append(el("li", {text: `${fmt}: ${why}`}));
      article.append(list);
    }

    // sheet music
    if (piece.files.svg) {
      (async () => {
        try {
          for (let page = 1; page <= piece.pages; page++) await addPage(sheet, piece, page);
        } catch (err) {
          sheet.append(el("p", {className: "error", text: `No sheet music: ${err.message}`}));
        }
      })();
    } else {
      sheet.append(el("p", {className: "error", text: `No sheet music: ${(piece.errors || {}).svg || "not rendered"}`}));
    }

    // audio: the server's WAV, else the MIDI synthesized here
    if (piece.audio === "wav") {
      audio.src = piece.files.wav;
      audio.dataset.kind = "wav";
      note.textContent = "rendered by the server";
      if (piece.files.midi) {
        const button = el("button", {type: "button", className: "link synth", text: "use the browser synth"});
        button.addEventListener("click", () => {
          button.remove();
          synthesize(audio, note, piece).catch((err) => { note.textContent = `synthesis failed: ${err.message}`; });
        });
        player.append(button);
      }
    } else if (piece.audio === "midi") {
      synthesize(audio, note, piece).catch((err) => { note.textContent = `no audio: ${err.message}`; });
    } else {
      note.textContent = `no audio: ${(piece.errors || {}).midi || "the piece could not be rendered"}`;
    }
    return article;
  }

  async function showPieces(pieces, play) {
    const result = $("result");
    result.replaceChildren(...pieces.map(pieceView));
    if (play) {
      const audio = result.querySelector("audio");
      if (audio) {
        const start = () => audio.play().catch(() => {});
        if (audio.src) start(); else audio.addEventListener("loadeddata", start, {once: true});
      }
    }
  }

  // ---- this session's pieces ------------------------------------------------------------------

  function session() {
    try { return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "[]"); } catch (err) { return []; }
  }

  function remember(pieces) {
    const when = new Date().toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
    const list = session().concat(pieces.map((p) => ({piece: p, when})));
    try { sessionStorage.setItem(SESSION_KEY, JSON.stringify(list.slice(-SESSION_MAX))); } catch (err) { /* full */ }
    showSession();
  }

  function showSession() {
    const list = session();
    $("session-empty").hidden = list.length > 0;
    const history = $("history");
    history.replaceChildren();
    for (const {piece, when} of list.slice().reverse()) {
      const button = el("button", {type: "button", className: "replay",
                                   text: `\u25b6 ${piece.model} #${piece.number} \u00b7 seed ${piece.seed} \u00b7 ${when}`});
      const item = el("li", {"data-id": piece.id}, button);
      button.addEventListener("click", async () => {
        try {
          const fresh = await api(`/api/pieces/${encodeURIComponent(piece.id)}`);
          await showPieces([fresh], true);
          status(`${piece.model} piece ${piece.number} (seed ${piece.seed}).`, "done");
        } catch (err) {
          if (err.status === 404) {
            item.classList.add("gone");
            button.disabled = true;
            button.title = "the server no longer has this piece";
          }
          status(err.message, "error");
        }
      });
      history.append(item);
    }
  }

  // ---- start ---------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("controls").addEventListener("submit", compose);
    $("model").addEventListener("change", showModel);
    $("tune-file").addEventListener("change", loadTune);
    // "learn my tune first" only means something for a tune that is continued
    const adaptable = () => { $("adapt").disabled = !$("continuation").checked; };
    $("continuation").addEventListener("change", adaptable);
    adaptable();
    $("harmonize").addEventListener("click", () => {
      const file = $("melody-file").files[0];
      if (file) harmonize({file}); else status("Choose a melody file to harmonize first.", "error");
    });
    $("temperature").addEventListener("input", () => {
      $("temperature-value").textContent = Number($("temperature").value).toFixed(2);
    });
    setBusy(false);
    showSession();
    loadModels();
  });
})();
