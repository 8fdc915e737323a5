// Runs the Max [js] files of bridges/hosts/max under node with stubs of Max's js API (outlet, inlet,
// messagename, arrayfromargs, Task, Dict, post, LiveAPI), wired as in the patches:
//   symbolic-ai-clip.maxpat: [js sai.clip.js] -> [sai.client] -> back into the clip js's right inlet.
// usage: node harness.js DIR FIXTURE.json   (DIR holds the .js files; FIXTURE: {args, clip, tempo})
// stdin: one JSON message per line {"to": "client"|"clip", "inlet": N, "msg": [selector, args...]}, or
// {"to": "timer", "msg": [BOX]} to fire that box's pending Tasks
// stdout: one JSON line per thing leaving the patch (udp, results, dict, status, receive, live, post),
// then {"idle": true} after each input line.
"use strict";
const fs = require("fs"), vm = require("vm"), path = require("path"), readline = require("readline");
const [dir, fixturePath] = process.argv.slice(2);
const fixture = JSON.parse(fs.readFileSync(fixturePath, "utf8"));
const emit = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const timers = {};

function liveApi(p) {
  const clip = fixture.clip;
  if (p === "live_set") return {id: 1, get: (k) => (k === "tempo" ? [fixture.tempo] : [0])};
  if (p !== "live_set view detail_clip" || !clip) return {id: 0, get: () => [0], call: () => ""};
  return {
    id: 2,
    get: (k) => ({is_midi_clip: [clip.is_midi === false ? 0 : 1], length: [clip.length]})[k] || [0],
    call: (name, ...args) => {
      emit({live: [name, ...args]});
      if (name === "get_selected_notes_extended") return JSON.stringify({notes: clip.selected || []});
      if (name === "get_notes_extended") return JSON.stringify({notes: clip.notes});
      return "";
    },
  };
}

const boxes = {};
function load(name, file, args, wire) {
  const ctx = {
    inlets: 1, outlets: 1, inlet: 0, messagename: "", jsarguments: [file, ...args],
    post: (...a) => emit({post: name, text: a.join(" ")}),
    arrayfromargs: (a) => Array.prototype.slice.call(a),
    Task: class { constructor(fn, self) { this.fn = fn; this.self = self; }
                  schedule(ms) { this.cancel(); (timers[name] = timers[name] || []).push(this); emit({schedule: name, ms}); }
                  cancel() { timers[name] = (timers[name] || []).filter((t) => t !== this); } },
    Dict: class { constructor(n) { this.name = n; this.data = {}; } clear() { this.data = {}; }
                  set(k, v) { this.data[k] = v; } },
    LiveAPI: function (p) { return liveApi(p); },
  };
  ctx.outlet = (n, ...a) => {
    const msg = a.length === 1 && Array.isArray(a[0]) ? a[0] : a;
    wire(n, msg, ctx);
  };
  vm.createContext(ctx);
  vm.runInContext(fs.readFileSync(path.join(dir, file), "utf8"), ctx, {filename: file});
  boxes[name] = ctx;
  return ctx;
}

// Max's dispatch: a function named like the selector, else anything(); a number first means "list".
function deliver(name, inlet, msg) {
  const ctx = boxes[name];
  if (!ctx) return;
  let sel = msg[0], args = msg.slice(1);
  if (typeof sel !== "string") { sel = "list"; args = msg; }
  ctx.inlet = inlet;
  ctx.messagename = sel;
  const fn = typeof ctx[sel] === "function" && !["outlet", "post", "arrayfromargs"].includes(sel) ? ctx[sel] : ctx.anything;
  if (typeof fn === "function") fn.apply(ctx, args);
}

load("client", "sai.client.js", fixture.args || [9010, 9101], (n, msg) => {
  if (n === 0) emit({udp: msg});
  if (n === 1) { emit({results: msg}); deliver("clip", 1, msg); }
  if (n === 2) emit({dict: msg[1], data: dicts[msg[1]]});
  if (n === 3) { emit({status: msg}); deliver("clip", 1, msg); }
  if (n === 4) emit({receive: msg});
});
const dicts = {};
boxes.client.Dict = class extends boxes.client.Dict { set(k, v) { super.set(k, v); dicts[this.name] = this.data; } };
if (fixture.clip !== undefined)
  load("clip", "sai.clip.js", [], (n, msg) => { if (n === 0) deliver("client", 0, msg); });
if (typeof boxes.client.loadbang === "function") boxes.client.loadbang();
emit({idle: true});

readline.createInterface({input: process.stdin}).on("line", (line) => {
  const m = JSON.parse(line);
  if (m.to === "timer") {  // fire the pending tasks of a box, as if their time had come
    const due = timers[m.msg[0]] || [];
    timers[m.msg[0]] = [];
    for (const t of due) t.fn.call(t.self);
  }
  else deliver(m.to, m.inlet, m.msg);
  emit({idle: true});
});
