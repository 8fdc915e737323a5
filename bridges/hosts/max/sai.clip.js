// sai.clip.js: the Max for Live MIDI effect's logic (Max's [js], ES5, Live 11+ note API). "harmonize" or
// "perform" on inlet 0 reads the notes of the clip shown in Live's detail view (the selected notes, or all
// when none are selected), sends them through [sai.client] (outlet 0 -> its inlet) and, when the job is
// done, writes back: harmonize adds the accompaniment (the chords, voiced) to the clip; perform replaces
// the clip's notes with the performed ones (timing and velocities).
// inlet 1: [sai.client]'s results (outlet 1) and its errors and status (outlet 3).
inlets = 2;
outlets = 1;

var state = null;   // {task, clip, notes: [], qpm}

function say(text) { post("symbolic-ai: " + text + "\n"); }

function clipNotes(clip) {
    var sel = JSON.parse(clip.call("get_selected_notes_extended")).notes || [];
    if (sel.length > 0) return sel;
    var length = clip.get("length")[0];
    return JSON.parse(clip.call("get_notes_extended", 0, 128, 0, length)).notes || [];
}

function start(task, params) {
    if (state) { say("a " + state.task + " job is still running; wait for it"); return; }
    var clip = new LiveAPI("live_set view detail_clip");
    if (!clip || clip.id == 0 || clip.get("is_midi_clip")[0] != 1) {
        say("error: select a MIDI clip (open it in the detail view)");
        return;
    }
    var notes = clipNotes(clip);
    var pitched = notes.filter(function (n) { return !n.mute; });
    if (pitched.length === 0) { say("error: the clip has no notes"); return; }
    state = {task: task, clip: clip, notes: [], qpm: new LiveAPI("live_set").get("tempo")[0]};
    outlet(0, "clear");
    for (var i = 0; i < pitched.length; i++) {
        var n = pitched[i];
        outlet(0, "note", n.pitch, Math.round(n.velocity), n.start_time, n.duration, 1);
    }
    outlet(0, ["run", task].concat(params));
}

// On inlet 1 these names are [sai.client]'s results ("harmonize done ..."): Max calls the function of
// that name, so hand them on to anything().
function harmonize() {
    if (inlet === 0) start("harmonize", ["accompaniment", "block"]);
    else anything.apply(this, arguments);
}

function perform() {
    if (inlet === 0) start("perform", []);
    else anything.apply(this, arguments);
}

function write() {
    var clip = state.clip, out = [];
    if (state.task === "harmonize") {
        for (var i = 0; i < state.notes.length; i++) {
            var n = state.notes[i];   // [pitch, velocity, start_beats, duration_beats, channel]
            if (n[4] === 2)           // channel 2: the accompaniment (1 is the melody, already in the clip)
                out.push({pitch: n[0], velocity: n[1], start_time: n[2], duration: n[3]});
        }
    } else {
        // a performance has no beats of its own: the daemon sends it at a nominal 120 qpm (beat = 0.5 s)
        var scale = state.qpm / 120;
        for (var j = 0; j < state.notes.length; j++) {
            var p = state.notes[j];
            out.push({pitch: p[0], velocity: p[1], start_time: p[2] * scale, duration: p[3] * scale});
        }
        clip.call("remove_notes_extended", 0, 128, 0, Math.max(clip.get("length")[0], 1e6));
    }
    clip.call("add_new_notes", {notes: out});
    say(state.task + ": " + out.length + " notes written into the clip");
}

// From [sai.client]: results (notes open/close, note, TASK done ...) and status (error, pong, welcome).
function anything() {
    var args = arrayfromargs(arguments);
    if (inlet !== 1 || !state) return;
    if (messagename === "note") {
        state.notes.push(args.slice(2));   // id, index, then the note
    } else if (messagename === "error") {
        say("error: " + state.task + " failed: " + args.slice(1).join(" "));
        state = null;
    } else if (messagename === state.task && args[0] === "done") {
        write();
        state = null;
    }
}
