// Runs a MuseScore 4 plugin's JavaScript (symbolic-ai-ms4.js + symbolic-ai-core.js, as installed) under
// node against a recorded cursor walk: a fake score whose Cursor replays the chords and rests of a JSON
// spec as MuseScore's plugin API 3.x/4.x exposes them, with a real XMLHttpRequest-alike (node's http) so
// the plugin talks to a real daemon. Prints one JSON document: the lines shown to the user, the bodies
// posted, the elements added (type, text, placement, staff, tick), the notes' velocities, the undo commands.
// usage: node ms4_harness.js PLUGIN_DIR SPEC.json TASK PARAMS_JSON [fire-timeout]
// SPEC: {measures: [{tick, num, den}], end, tempo (beats per second), parts: [{startTrack, endTrack,
//        hasDrumStaff}], nstaves, tracks: {TRACK: [[tick, "chord"|"rest", ticks, [[pitch, veloType, veloOffset]]]]},
//        selection: null | {startTick, endTick, startStaff, endStaff}, recording: align's recording path}
"use strict";
const fs = require("fs"), vm = require("vm"), path = require("path"), http = require("http");
const [dir, specPath, task, paramsJson, mode] = process.argv.slice(2);
const spec = JSON.parse(fs.readFileSync(specPath, "utf8"));
const Element = {CHORD: 1, REST: 2, HARMONY: 3, STAFF_TEXT: 4, TEMPO_TEXT: 5};
const Placement = {ABOVE: 0, BELOW: 1};
const out = {shown: [], posted: [], added: [], commands: [], velocities: {}};

const noteObjs = {};
const tracks = {};
for (const [t, items] of Object.entries(spec.tracks)) {
  tracks[t] = {};
  for (const [tick, kind, ticks, notes] of items) {
    const el = {type: kind === "chord" ? Element.CHORD : Element.REST, duration: {ticks}};
    if (kind === "chord") {
      el.notes = notes.map(([pitch, veloType, veloOffset], k) => (noteObjs[`${t}/${tick}/${k}`] = {pitch, veloType, veloOffset}));
    }
    tracks[t][tick] = el;
  }
}
const ticks = [...new Set(Object.values(spec.tracks).flat().map((i) => i[0]))].sort((a, b) => a - b);
const measureAt = (tick) => {
  const m = spec.measures.filter((x) => x.tick <= tick).pop();
  return {timesigActual: {numerator: m.num, denominator: m.den}, firstSegment: {tick: m.tick}};
};

function newCursor() {
  let i = -1;
  const c = {
    track: 0,
    get staffIdx() { return Math.floor(this.track / 4); }, set staffIdx(s) { this.track = s * 4 + this.voice; },
    get voice() { return this.track % 4; }, set voice(v) { this.track = this.staffIdx * 4 + v; },
    get segment() { return i >= 0 && i < ticks.length ? {tick: ticks[i]} : null; },
    get tick() { return this._tick !== undefined ? this._tick : (this.segment ? this.segment.tick : 0); },
    get element() { return this.segment ? (tracks[this.track] || {})[ticks[i]] || null : null; },
    get tempo() { return spec.tempo; },
    get measure() { return this.segment ? measureAt(this.segment.tick) : null; },
    rewind(mode) {
      this._tick = undefined;
      const sel = spec.selection;
      if (mode === 0) { i = 0; return; }
      if (!sel) { i = -1; this._tick = 0; return; }
      const at = mode === 1 ? sel.startTick : sel.endTick;
      this.track = (mode === 1 ? sel.startStaff : sel.endStaff) * 4;
      i = ticks.indexOf(at);
      if (mode === 2 && at >= spec.end) { i = -1; this._tick = 0; }
    },
    next() { this._tick = undefined; i += 1; },
    add(el) { out.added.push(Object.assign(el, {staff: this.staffIdx, tick: this.tick})); },
  };
  return c;
}

let m = null;
for (const x of spec.measures.slice().reverse()) m = {firstSegment: {tick: x.tick}, nextMeasure: m};
const score = {
  nstaves: spec.nstaves, parts: spec.parts, lastSegment: {tick: spec.end}, firstMeasure: m, newCursor,
  startCmd: () => out.commands.push("startCmd"), endCmd: () => out.commands.push("endCmd"),
};

class XMLHttpRequest {
  open(method, url) { this.method = method; this.url = url; this.readyState = 1; this.headers = {}; }
  setRequestHeader(k, v) { this.headers[k] = v; }
  abort() { if (this.req) this.req.destroy(); this.aborted = true; }
  send(body) {
    if (body) out.posted.push({url: this.url, body: JSON.parse(body)});
    this.req = http.request(this.url, {method: this.method, headers: this.headers}, (res) => {
      let data = "";
      res.on("data", (d) => (data += d));
      res.on("end", () => { this.status = res.statusCode; this.responseText = data; this.readyState = 4; this.onreadystatechange(); });
    });
    this.req.on("error", () => { if (this.aborted) return; this.status = 0; this.readyState = 4; this.onreadystatechange(); });
    this.req.end(body || undefined);
  }
}

function loadJs(file, globals) {
  const ctx = vm.createContext({console, JSON, Math, String, Date, ...globals});
  const src = fs.readFileSync(path.join(dir, file), "utf8").replace(/^\.import .*$/gm, "");
  vm.runInContext(src, ctx, {filename: file});
  return ctx;
}
const Local = loadJs("symbolic-ai-local.js", {});
const Core = loadJs("symbolic-ai-core.js", {});
const Sai = loadJs("symbolic-ai-ms4.js", {Core, Local});

const timer = {interval: 0, running: false, restart() { this.running = true; }, stop() { this.running = false; }};
const ctx = {
  score, Element, Placement, timer, XMLHttpRequest,
  newElement: (type) => ({type}),
  show: (line) => out.shown.push(line),
  onTimeout: () => {},
  recording: spec.recording || "",
};
Sai.run(task, ctx, JSON.parse(paramsJson));
if (mode === "fire-timeout" && timer.running) ctx.onTimeout();
process.on("exit", () => {
  for (const [k, n] of Object.entries(noteObjs)) out.velocities[k] = [n.veloType, n.veloOffset];
  const kind = {[Element.HARMONY]: "harmony", [Element.TEMPO_TEXT]: "tempo"};
  out.added = out.added.map((e) => ({type: kind[e.type] || "staff_text", text: e.text,
                                     placement: e.placement === Placement.BELOW ? "below" : "above", staff: e.staff, tick: e.tick,
                                     ...(e.tempo !== undefined ? {tempo: e.tempo} : {})}));
  process.stdout.write(JSON.stringify(out) + "\n");
});
