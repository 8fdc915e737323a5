// symbolic-ai-ms3.js: the MuseScore 3 side. A plugin QML calls run(TASK, ctx) from onRun, with
// ctx = {score, newElement, Element, Placement, proc (a QProcess), file (a FileIO), dialog (a
// MessageDialog), writeScore, quit}. Requests go to the daemon's HTTP API through curl (every call has
// --max-time, so a stuck daemon cannot hang MuseScore); if the daemon does not answer /sai/ping, the
// plugin starts it with the symbolic-ai-serve script that `symbolic-ai hosts install` wrote.
// align also needs ctx.recording (a local audio file path: align() asks with ctx.pick, a file dialog).
// Headless test mode: when $SYMBOLIC_AI_MSCORE_OUT names a file, the score is written there with
// writeScore (edited or, after an error, unchanged) and MuseScore quits.
.import "symbolic-ai-core.js" as Core
.import "symbolic-ai-local.js" as Local

var PING_TIMEOUT_S = 2;
var START_TIMEOUT_S = 60;

function say(ctx, text, isError) {
    console.log("symbolic-ai: " + (isError ? "error: " : "") + text);
    if (!ctx.headless && ctx.dialog) {
        ctx.dialog.title = "symbolic-ai";
        ctx.dialog.text = text;
        ctx.dialog.open();
    }
}

function windows() { return Qt.platform.os === "windows"; }

function quoteArg(s) { return "\"" + String(s).replace(/"/g, "\\\"") + "\""; }

function env(ctx, name) {
    ctx.proc.start(windows() ? "cmd /c echo %" + name + "%" : "printenv " + name);
    if (!ctx.proc.waitForFinished(5000))
        return "";
    var v = String(ctx.proc.readAllStandardOutput()).trim();
    return v === "%" + name + "%" ? "" : v;
}

function localPath(url) {
    var s = String(url).replace(/^file:\/\//, "");
    return windows() ? s.replace(/^\/([A-Za-z]:)/, "$1") : s;
}

function dirOf(path) {
    var i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
    return i > 0 ? path.substring(0, i) : ".";
}

// curl METHOD URL [body] -> {status, doc} or {status: 0, error}; exit code 7 = nothing listens.
function http(ctx, method, path, body, timeoutS, extra) {
    var cmd = "curl -sS --max-time " + timeoutS + " " + (extra || "") + " -w " + quoteArg("\\n%{http_code}") + " -X " + method;
    if (body !== null) {
        var tmp = ctx.file.tempPath() + "/symbolic-ai-request-" + Date.now() + ".json";
        ctx.file.source = tmp;
        if (!ctx.file.write(JSON.stringify(body)))
            return {status: 0, error: "cannot write the request to " + tmp};
        cmd += " -H " + quoteArg("Content-Type: application/json") + " --data-binary " + quoteArg("@" + tmp);
    }
    ctx.proc.start(cmd + " " + quoteArg(ctx.url + path));
    var finished = ctx.proc.waitForFinished((timeoutS + 5) * 1000);
    var out = String(ctx.proc.readAllStandardOutput());
    if (body !== null)
        ctx.file.remove();
    if (!finished)
        return {status: 0, error: "curl did not finish within " + timeoutS + " s"};
    var cut = out.lastIndexOf("\n");
    var status = parseInt(out.substring(cut + 1), 10) || 0;
    if (status === 0)
        return {status: 0, error: out.trim() === "" || out.trim() === "000" ? "no answer from " + ctx.url : out.trim()};
    try {
        return {status: status, doc: JSON.parse(out.substring(0, cut))};
    } catch (e) {
        return {status: status, error: "the daemon's answer is not JSON (HTTP " + status + ")"};
    }
}

// Ping; if nothing answers, start the daemon (allowing outDir for perform's MIDI) and wait for it.
function ensureDaemon(ctx, outDir) {
    var ping = http(ctx, "GET", "/sai/ping", null, PING_TIMEOUT_S);
    if (ping.status === 200)
        return "";
    var script = localPath(Qt.resolvedUrl(windows() ? "symbolic-ai-serve.cmd" : "symbolic-ai-serve.sh"));
    ctx.file.source = script;
    if (!ctx.file.exists())
        return "the symbolic-ai daemon is not running at " + ctx.url + "; start it with `symbolic-ai serve`";
    ctx.proc.start((windows() ? "cmd /c " : "sh ") + quoteArg(script) + " " + quoteArg(outDir));
    ctx.proc.waitForFinished(10000);
    console.log("symbolic-ai: started the daemon (" + script + "), waiting for it");
    ping = http(ctx, "GET", "/sai/ping", null, START_TIMEOUT_S,
                "--retry " + START_TIMEOUT_S + " --retry-delay 1 --retry-connrefused");
    if (ping.status === 200)
        return "";
    return "the symbolic-ai daemon did not start at " + ctx.url + " (" + (ping.error || "HTTP " + ping.status) +
           "); start it yourself with `symbolic-ai serve`";
}

function run(task, ctx, params) {
    ctx.headless = false;
    var outScore = env(ctx, "SYMBOLIC_AI_MSCORE_OUT");
    ctx.headless = outScore !== "";
    ctx.url = env(ctx, "SYMBOLIC_AI_URL") || Local.URL;
    var timeoutS = parseInt(env(ctx, "SYMBOLIC_AI_TIMEOUT") || Local.TIMEOUT_S, 10);
    // perform's MIDI: beside the score where the API says where it is (3.2 does not), else $SYMBOLIC_AI_OUT_DIR or home
    var scorePath = ctx.score.path ? localPath(ctx.score.path) : "";
    var outDir = ctx.headless ? dirOf(outScore) : scorePath ? dirOf(scorePath)
               : (env(ctx, "SYMBOLIC_AI_OUT_DIR") || ctx.file.homePath());
    try {
        var api = {score: ctx.score, newElement: ctx.newElement, Element: ctx.Element, Placement: ctx.Placement};
        var range = Core.selectionRange(ctx.score);
        var collected = Core.collectNotes(api, range);
        var why = Core.refuse(task, range, collected);
        if (why) {
            say(ctx, why, true);
            return;
        }
        why = ensureDaemon(ctx, outDir);
        if (why) {
            say(ctx, why, true);
            return;
        }
        if (task === "align" && !ctx.recording) {
            say(ctx, "align needs the recording of this score: choose an audio file (WAV, FLAC, OGG, MP3)", true);
            return;
        }
        var body = Core.requestBody(api, range, collected, params);
        if (task === "perform")
            body.out_path = outDir + "/" + (ctx.score.scoreName || "score") + ".performance.mid";
        if (task === "align") {  // the score on the recording's timeline: a MIDI whose tempo map follows it
            body.recording_path = ctx.recording;
            body.out_path = outDir + "/" + (ctx.score.scoreName || "score") + ".aligned.mid";
        }
        var reply = http(ctx, "POST", "/sai/" + task + "?wait=1", body, timeoutS);
        why = reply.error || Core.jobError(reply.doc);
        if (why) {
            say(ctx, task + " failed: " + why, true);
            return;
        }
        var done = Core.writeBack(api, task, range, collected, reply.doc);
        say(ctx, done.error || done.message, !!done.error);
    } catch (e) {
        say(ctx, task + " failed: " + e, true);
    } finally {
        if (ctx.headless) {
            if (!ctx.writeScore(ctx.score, outScore, "mscx"))
                console.log("symbolic-ai: error: cannot write " + outScore);
            ctx.quit();
        }
    }
}

// align: the recording is $SYMBOLIC_AI_RECORDING (headless runs, scripts) or the file the user picks in
// ctx.pick's dialog (whose onAccepted sets ctx.recording and calls run("align", ctx, {})).
function align(ctx) {
    var rec = env(ctx, "SYMBOLIC_AI_RECORDING");
    if (rec || env(ctx, "SYMBOLIC_AI_MSCORE_OUT")) {
        ctx.recording = rec;
        return run("align", ctx, {});
    }
    ctx.pick();
}
