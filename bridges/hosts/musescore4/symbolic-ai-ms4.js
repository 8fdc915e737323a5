// symbolic-ai-ms4.js: the MuseScore 4 side (plugin API 4.x: no QProcess, no readScore/writeScore).
// A plugin QML calls run(TASK, ctx, params) from onRun, with ctx = {score, newElement, Element,
// Placement, timer (a QML Timer), show (function: one line for the user), XMLHttpRequest}. The plugin
// walks the selection with a Cursor (symbolic-ai-core.js), posts the JSON note list to the daemon's HTTP
// API with XMLHttpRequest, and writes the answer back with the Cursor as one undo step. Every request is
// aborted after its timeout; the daemon must be running (`symbolic-ai serve`): MuseScore 4 plugins cannot
// start processes. align also needs ctx.recording (the recording's path, typed into the plugin's dialog);
// its MIDI (the score on the recording's timeline) goes beside the recording, as RECORDING.aligned.mid.
.import "symbolic-ai-core.js" as Core
.import "symbolic-ai-local.js" as Local

var PING_TIMEOUT_MS = 2000;

// method path body timeoutMs done(status, doc, error): one request, aborted by ctx.timer after timeoutMs.
function http(ctx, method, path, body, timeoutMs, done) {
    var xhr = new ctx.XMLHttpRequest();
    var finished = false;
    var finish = function (status, doc, error) {
        if (finished) return;
        finished = true;
        ctx.timer.stop();
        done(status, doc, error);
    };
    ctx.timer.interval = timeoutMs;
    ctx.onTimeout = function () {
        xhr.abort();
        finish(0, null, "no answer from " + Local.URL + " within " + Math.round(timeoutMs / 1000) + " s");
    };
    xhr.onreadystatechange = function () {
        if (xhr.readyState !== 4 || finished) return;
        if (xhr.status === 0)
            return finish(0, null, "the symbolic-ai daemon is not running at " + Local.URL + "; start it with `symbolic-ai serve`");
        try {
            finish(xhr.status, JSON.parse(xhr.responseText), "");
        } catch (e) {
            finish(xhr.status, null, "the daemon's answer is not JSON (HTTP " + xhr.status + ")");
        }
    };
    xhr.open(method, Local.URL + path);
    if (body !== null)
        xhr.setRequestHeader("Content-Type", "application/json");
    ctx.timer.restart();
    xhr.send(body === null ? null : JSON.stringify(body));
}

function run(task, ctx, params) {
    var api = {score: ctx.score, newElement: ctx.newElement, Element: ctx.Element, Placement: ctx.Placement};
    var range = Core.selectionRange(ctx.score);
    var collected = Core.collectNotes(api, range);
    var why = Core.refuse(task, range, collected);
    if (why)
        return ctx.show("error: " + why);
    if (task === "align" && !ctx.recording)
        return ctx.show("error: align needs the recording of this score: type its path (WAV, FLAC, OGG, MP3)");
    var body = Core.requestBody(api, range, collected, params);
    if (task === "align") {
        body.recording_path = ctx.recording;
        body.out_path = ctx.recording.replace(/\.[^./\\]*$/, "") + ".aligned.mid";
    }
    ctx.show(task + ": asking the daemon about " + collected.notes.length + " notes...");
    http(ctx, "GET", "/sai/ping", null, PING_TIMEOUT_MS, function (status, doc, error) {
        if (status !== 200)
            return ctx.show("error: " + (error || "the daemon answered HTTP " + status + " to /sai/ping"));
        http(ctx, "POST", "/sai/" + task + "?wait=1", body, Local.TIMEOUT_S * 1000, function (status2, job, error2) {
            why = error2 || Core.jobError(job);
            if (why)
                return ctx.show("error: " + task + " failed: " + why);
            var result = Core.writeBack(api, task, range, collected, job);
            ctx.show(result.error ? "error: " + result.error : result.message);
        });
    });
}
