// sai.client.js: the logic of the [sai.client] abstraction (Max's [js] object, ES5). Between [udpsend]
// (outlet 0) and [udpreceive] (inlet 1) it speaks the daemon's OSC protocol: /sai/hello with the
// listening port, a fresh request id per run, the note list framed as /sai/notes/open, /sai/note,
// /sai/notes/close, then /sai/TASK/notes; or, for the tasks on a recording (align, locate), the file
// paths as /sai/TASK/file. Results come out as plain lists (outlet 1), as a dict when
// a job is done (outlet 2: "dictionary NAME"), and errors and status on outlet 3. Every request has a
// timeout. Same interface as the Pure Data abstraction `sai` (bridges/hosts/pd/sai.pd).
//
// inlet 0: note PITCH VELOCITY START_BEATS DURATION_BEATS CHANNEL | clear | run TASK [PARAM VALUE ...]
//          | file TASK RECORDING_PATH SCORE_PATH OUT_PATH [PARAM VALUE ...] | ping | cancel
//          | connect DAEMON_PORT REPLY_PORT
// inlet 1: what [udpreceive] outputs
// outlets: 0 [udpsend], 1 results, 2 dict, 3 errors and status, 4 [udpreceive] (its port)
inlets = 2;
outlets = 5;

var TO_UDP = 0, RESULTS = 1, DICT = 2, STATUS = 3, TO_RECEIVE = 4;
var RUN_TIMEOUT_MS = 125000, PING_TIMEOUT_MS = 3000;
var notes = [];
var lastId = 0;
function portArg(i, fallback) { return jsarguments.length > i && jsarguments[i] > 0 ? jsarguments[i] : fallback; }
var daemonPort = portArg(1, 9010);   // [sai.client DAEMON_PORT REPLY_PORT]
var replyPort = portArg(2, 9101);
var job = null;       // {id, task, done: {}, notes: []}
var NO_ANSWER = "no answer from the symbolic-ai daemon (start it with: symbolic-ai serve)";
var timer = new Task(function () {
    outlet(STATUS, "error", job ? job.id : 0, "timeout", NO_ANSWER);
    job = null;
}, this);
var helloTimer = new Task(function () { outlet(STATUS, "error", 0, "timeout", NO_ANSWER); }, this);  // the first ping

function send() { outlet(TO_UDP, arrayfromargs(arguments)); }

function hello() {
    outlet(TO_UDP, "host", "127.0.0.1");
    outlet(TO_UDP, "port", daemonPort);
    send("/sai/hello", replyPort, "max");
    helloTimer.cancel();
    helloTimer.schedule(PING_TIMEOUT_MS);
}

function loadbang() { hello(); }

function connect(daemon, reply) {
    daemonPort = daemon;
    replyPort = reply;
    outlet(TO_RECEIVE, "port", reply);
    hello();
}

function note(pitch, velocity, start, duration, channel) {
    if (inlet !== 0) return;
    notes.push([pitch, velocity, start, duration, channel || 1]);
}

function clear() { notes = []; }

function ping() {
    send("/sai/ping");
    timer.cancel();
    timer.schedule(PING_TIMEOUT_MS);
}

function cancel() { if (job) send("/sai/cancel", job.id); }

function run(task) {
    if (notes.length === 0) {
        outlet(STATUS, "error", 0, "bad_input", "no notes: send note messages before run");
        return;
    }
    var id = ++lastId;
    job = {id: id, task: String(task), notes: []};
    send("/sai/notes/open", id, notes.length);
    for (var i = 0; i < notes.length; i++)
        send.apply(this, ["/sai/note", id, i].concat(notes[i]));
    send("/sai/notes/close", id);
    send.apply(this, ["/sai/" + task + "/notes", id].concat(arrayfromargs(arguments).slice(1)));
    timer.cancel();
    timer.schedule(RUN_TIMEOUT_MS);
}

// file align /take.wav /score.mid /take.aligned.mid: the daemon times the score in the recording and writes
// the score on the recording's timeline (a tempo map a DAW imports) to OUT_PATH ("-" for no file); the time
// map comes out as "align time_map ID I AUDIO_SEC SCORE_BEAT" lists, then the done dict. Absolute paths,
// inside the daemon's allowed folders.
function file() {
    var args = arrayfromargs(arguments);
    if (args.length < 4) {
        outlet(STATUS, "error", 0, "bad_input",
               "file takes TASK RECORDING_PATH SCORE_PATH OUT_PATH [PARAM VALUE ...] (OUT_PATH - for no file)");
        return;
    }
    var id = ++lastId;
    job = {id: id, task: String(args[0]), notes: []};
    send.apply(this, ["/sai/" + args[0] + "/file", id, String(args[1]), String(args[2]),
                      args[3] === "-" ? "" : String(args[3])].concat(args.slice(4)));
    timer.cancel();
    timer.schedule(RUN_TIMEOUT_MS);
}

// A reply from [udpreceive]: ADDRESS ARGS...
function anything() {
    var args = arrayfromargs(arguments);
    if (inlet !== 1) {
        outlet(STATUS, "error", 0, "bad_request", "unknown message " + messagename);
        return;
    }
    var parts = messagename.split("/");   // "", "sai", ...
    if (parts[1] !== "sai") return;
    var what = parts.slice(2);
    if (what[0] === "error" || what[0] === "pong" || what[0] === "welcome") {
        if (what[0] === "welcome") helloTimer.cancel();
        else timer.cancel();
        if (what[0] === "error" && job && args[0] === job.id) job = null;
        outlet(STATUS, [what[0]].concat(args));
        return;
    }
    outlet(RESULTS, what.concat(args));
    if (what[1] === "done") {
        timer.cancel();
        var d = new Dict("sai.result." + args[0]);
        d.clear();
        d.set("task", what[0]);
        d.set("id", args[0]);
        for (var i = 1; i + 1 < args.length; i += 2)
            d.set(String(args[i]), args[i + 1]);
        outlet(DICT, "dictionary", d.name);
        job = null;
    }
}
