// symbolic-ai-core.js: the score side shared by the MuseScore 3 and 4 plugins (plugin API 3.x and 4.x).
// It walks the selection (or the whole score) with a Cursor into the daemon's note list, builds the
// HTTP request body, and writes a job's answer back into the score. It holds no transport: the
// MuseScore 3 plugins send the body with curl (symbolic-ai-ms3.js), the MuseScore 4 ones with
// XMLHttpRequest (symbolic-ai-ms4.js). `api` is {score, newElement, Element, Placement}.
// Every answer is one line for the user: {error: "..."} or {message: "..."}.

var TICKS_PER_BEAT = 480;   // MuseScore's division (ticks per quarter note)
var DEFAULT_VELOCITY = 80;  // MuseScore's mf

// Where to work: the range selection, else the whole score. Staves are inclusive, ticks [start, end).
function selectionRange(score) {
    var c = score.newCursor();
    c.rewind(1);  // SELECTION_START
    var last = score.lastSegment ? score.lastSegment.tick + 1 : 0;
    if (!c.segment)
        return {whole: true, startTick: 0, endTick: last, startStaff: 0, endStaff: score.nstaves - 1};
    var startTick = c.tick, startStaff = c.staffIdx;
    c.rewind(2);  // SELECTION_END: tick 0 when the selection runs to the end of the score
    return {whole: false, startTick: startTick, endTick: c.tick === 0 ? last : c.tick,
            startStaff: startStaff, endStaff: c.staffIdx};
}

function isDrumStaff(score, staff) {
    for (var i = 0; i < score.parts.length; i++) {
        var p = score.parts[i];
        if (p.startTrack <= staff * 4 && staff * 4 < p.endTrack)
            return p.hasDrumStaff === true;
    }
    return false;
}

function round6(x) { return Math.round(x * 1e6) / 1e6; }

// The notes in the range as [[pitch, velocity, start_beats, duration_beats, channel], ...] (beats
// from the range's start), the Note objects in the same order (refs), and the pitched staves used.
// A chord lasts until the next chord or rest in its voice, so tuplets get their real length.
function collectNotes(api, range) {
    var notes = [], refs = [], staves = [], drums = 0;
    var CHORD = api.Element.CHORD, REST = api.Element.REST;
    for (var staff = range.startStaff; staff <= range.endStaff; staff++) {
        if (isDrumStaff(api.score, staff)) { drums++; continue; }
        var before = notes.length;
        for (var voice = 0; voice < 4; voice++) {
            var c = api.score.newCursor();
            c.rewind(1);
            c.voice = voice;
            c.staffIdx = staff;
            if (range.whole)
                c.rewind(0);
            var pending = null;
            var flush = function (endTick) {
                if (!pending) return;
                for (var k = 0; k < pending.notes.length; k++) {
                    var n = pending.notes[k];
                    var vel = n.veloType === 1 && n.veloOffset > 0 ? n.veloOffset : DEFAULT_VELOCITY;
                    notes.push([n.pitch, Math.min(127, vel), round6((pending.tick - range.startTick) / TICKS_PER_BEAT),
                                round6((endTick - pending.tick) / TICKS_PER_BEAT), 1]);
                    refs.push(n);
                }
                pending = null;
            };
            while (c.segment && c.tick < range.endTick) {
                var e = c.element;
                if (e && (e.type === CHORD || e.type === REST)) {
                    flush(c.tick);
                    if (e.type === CHORD && c.tick >= range.startTick)
                        pending = {tick: c.tick, notes: e.notes, ticks: e.duration.ticks};
                }
                c.next();
            }
            if (pending)
                flush(Math.min(pending.tick + pending.ticks, range.endTick));
        }
        if (notes.length > before)
            staves.push(staff);
    }
    return {notes: notes, refs: refs, staves: staves, drums: drums};
}

// The HTTP body for POST /sai/TASK: the note list with the tempo and time signature at the range's start.
function requestBody(api, range, collected, params) {
    var c = api.score.newCursor();
    c.rewind(0);
    while (c.segment && c.tick < range.startTick)
        c.next();
    var body = {notes: collected.notes, params: params || {}};
    if (c.tempo > 0)
        body.qpm = round6(c.tempo * 60);
    var m = c.measure;
    if (m && m.timesigActual) {
        body.numerator = m.timesigActual.numerator;
        body.denominator = m.timesigActual.denominator;
    }
    return body;
}

// One line when the range cannot be sent for TASK, else "".
function refuse(task, range, collected) {
    var where = range.whole ? "the score" : "the selection";
    if (collected.notes.length === 0)
        return collected.drums > 0 ? where + " has only drum staves; select a pitched staff"
                                   : where + " has no notes; select some bars with notes (or nothing, for the whole score)";
    if (task === "harmonize" && collected.staves.length > 1)
        return "harmonize needs one melody, but " + where + " has notes on " + collected.staves.length +
               " staves; select the melody's staff only";
    return "";
}

// Add texts at ticks on one staff: each goes to the last chord or rest of voice 1 at or before its tick.
// items: [{tick, text, kind: "harmony" | "above" | "below" | "tempo", qpm (tempo)}]; one item per kind and place.
function placeTexts(api, staff, range, items) {
    var c = api.score.newCursor();
    c.rewind(0);
    c.staffIdx = staff;
    c.voice = 0;
    c.rewind(0);
    var ticks = [];
    while (c.segment) {
        if (c.element && (c.element.type === api.Element.CHORD || c.element.type === api.Element.REST))
            ticks.push(c.tick);
        c.next();
    }
    var at = {};
    for (var i = 0; i < items.length; i++) {
        var t = -1;
        for (var j = 0; j < ticks.length && ticks[j] <= items[i].tick; j++)
            t = ticks[j];
        if (t < range.startTick || t >= range.endTick)
            continue;
        var key = t + "/" + items[i].kind;
        if (!(key in at))
            at[key] = items[i];
    }
    c.rewind(0);
    c.staffIdx = staff;
    c.voice = 0;
    c.rewind(0);
    var added = 0;
    while (c.segment) {
        var kinds = ["harmony", "above", "below", "tempo"];
        for (var k = 0; k < kinds.length; k++) {
            var item = at[c.tick + "/" + kinds[k]];
            if (!item || item.done)
                continue;
            var el = api.newElement(kinds[k] === "harmony" ? api.Element.HARMONY
                                    : kinds[k] === "tempo" ? api.Element.TEMPO_TEXT : api.Element.STAFF_TEXT);
            el.text = item.text;
            c.add(el);
            if (kinds[k] === "below")
                el.placement = api.Placement.BELOW;  // after add(): adding applies the style's placement
            if (kinds[k] === "tempo")
                el.tempo = item.qpm / 60;            // after add(), too: quarter notes a second
            item.done = true;
            added++;
        }
        c.next();
    }
    return added;
}

function tickOf(range, beat) { return range.startTick + Math.round(beat * TICKS_PER_BEAT); }

// The ticks at which bars start.
function barTicks(score) {
    var out = [];
    for (var m = score.firstMeasure; m; m = m.nextMeasure)
        out.push(m.firstSegment.tick);
    return out;
}

// Piecewise-linear x -> y through the points (xs increasing); null outside them.
function interpolate(x, xs, ys) {
    if (!xs.length || x < xs[0] || x > xs[xs.length - 1])
        return null;
    for (var i = 1; i < xs.length; i++)
        if (x <= xs[i])
            return ys[i - 1] + (ys[i] - ys[i - 1]) * (x - xs[i - 1]) / Math.max(xs[i] - xs[i - 1], 1e-9);
    return ys[ys.length - 1];
}

// align: a tempo marking at each bar of the range whose tempo in the recording (its beats over its seconds,
// read off the time map [[audio_sec, score_beat], ...]) differs from the last one written; bars the
// recording does not cover get none.
function barTempos(api, range, timeMap) {
    var secs = [], beats = [], items = [], last = 0;
    for (var i = 0; i < timeMap.length; i++) {
        secs.push(timeMap[i][0]);
        beats.push(timeMap[i][1]);
    }
    var bars = barTicks(api.score).filter(function (t) { return t >= range.startTick && t < range.endTick; });
    for (var b = 0; b < bars.length; b++) {
        var b0 = Math.max((bars[b] - range.startTick) / TICKS_PER_BEAT, beats[0]);
        var b1 = Math.min(((b + 1 < bars.length ? bars[b + 1] : range.endTick) - range.startTick) / TICKS_PER_BEAT,
                          beats[beats.length - 1]);
        var t0 = interpolate(b0, beats, secs), t1 = interpolate(b1, beats, secs);
        if (t0 === null || t1 === null || b1 - b0 < 0.5 || t1 <= t0)
            continue;
        var qpm = Math.round(60 * (b1 - b0) / (t1 - t0));
        if (qpm !== last)
            items.push({tick: bars[b], qpm: qpm, kind: "tempo", text: "<sym>metNoteQuarterUp</sym> = " + qpm});
        last = qpm;
    }
    return items;
}

function annotationsOf(job, kind) {
    var out = [];
    var anns = job.annotations || [];
    for (var i = 0; i < anns.length; i++)
        if (anns[i].kind === kind)
            out.push(anns[i]);
    return out;
}

// Write a finished job into the score; returns {message} or {error}. The caller wraps it in one command.
function applyResult(api, task, range, collected, job) {
    var top = collected.staves[0], bass = collected.staves[collected.staves.length - 1];
    var items = [], n = 0, i;
    if (task === "harmonize" || task === "chords") {
        // harmonize: the symbol again at each bar the chord holds through, so every bar says what to play
        var chords = annotationsOf(job, "chord"), bars = task === "harmonize" ? barTicks(api.score) : [];
        for (i = 0; i < chords.length; i++) {
            if (!chords[i].value || chords[i].value === "N")
                continue;
            var from = tickOf(range, chords[i].start_beat), to = tickOf(range, chords[i].end_beat);
            items.push({tick: from, text: String(chords[i].value), kind: "harmony"});
            for (var b = 0; b < bars.length; b++)
                if (bars[b] > from && bars[b] < to)
                    items.push({tick: bars[b], text: String(chords[i].value), kind: "harmony"});
        }
        n = placeTexts(api, top, range, items);
        if (task === "chords") {
            var romans = annotationsOf(job, "roman"), below = [];
            for (i = 0; i < romans.length; i++) {
                var v = String(romans[i].value);
                below.push({tick: tickOf(range, romans[i].start_beat), text: v.indexOf(": ") >= 0 ? v.split(": ")[1] : v,
                            kind: "below"});
            }
            placeTexts(api, bass, range, below);
        }
        return {message: task + ": " + n + " chord symbols written (key " + (job.result.key || "?") + ")"};
    }
    if (task === "key" || task === "emotion") {
        var anns = annotationsOf(job, task);
        var label = task === "key" ? "Key: " : "Emotion: ";
        for (i = 0; i < anns.length; i++)
            items.push({tick: tickOf(range, anns[i].start_beat), text: label + anns[i].value, kind: "above"});
        n = placeTexts(api, top, range, items);
        var summary = task === "key" ? job.result.key : job.result.quadrant + " " + job.result.label;
        return {message: task + ": " + summary + " (" + n + " staff texts written)"};
    }
    if (task === "perform") {
        var played = job.result.notes || [];
        for (i = 0; i < played.length; i++) {
            var ref = collected.refs[played[i].score_id];
            if (!ref)
                continue;
            ref.veloType = 1;  // USER_VAL: veloOffset is the note's velocity
            ref.veloOffset = Math.max(1, Math.min(127, played[i].velocity));
            n++;
        }
        return {message: "perform: velocities of " + n + " notes set" + (job.output ? "; performance MIDI in " + job.output : "")};
    }
    if (task === "align") {
        n = placeTexts(api, top, range, barTempos(api, range, job.result.time_map || []));
        var warn = (job.result.warnings || []).length ? "; warning: " + job.result.warnings[0] : "";
        return {message: "align: " + n + " tempo marks follow " + job.result.recording + " (confidence " +
                         Number(job.result.confidence).toFixed(2) + ")" +
                         (job.output ? "; the score on the recording's timeline: " + job.output : "") + warn};
    }
    return {error: "no way to write " + task + " into a score"};
}

// applyResult as one undo step; a failure half-way still closes the step, so Edit > Undo removes it.
function writeBack(api, task, range, collected, job) {
    api.score.startCmd();
    try {
        return applyResult(api, task, range, collected, job);
    } catch (e) {
        return {error: "writing the answer failed (" + e + "); Edit > Undo removes what was written"};
    } finally {
        api.score.endCmd();
    }
}

// The one-line reason a job document (or an HTTP error document) failed, else "".
function jobError(doc) {
    if (!doc)
        return "the daemon sent no answer";
    if (doc.error && doc.error.message)
        return (doc.error.code ? doc.error.code + ": " : "") + doc.error.message;
    if (doc.state && doc.state !== "done")
        return "the job ended " + doc.state;
    return "";
}
