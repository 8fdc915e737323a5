// symbolic-ai align for MuseScore 3 (plugin API 3.x): time the score in a recording of it. Asks for the
// recording (WAV, FLAC, OGG, MP3); the daemon aligns the range selection (or the whole score) to it, a
// tempo marking goes at each bar whose tempo in the recording changes (so playback follows the
// recording), and SCORE.aligned.mid beside the score is the score on the recording's timeline (its tempo
// map follows the recording: import it in a DAW). One undo step. Installed by `symbolic-ai hosts install
// musescore3`; needs the daemon (`symbolic-ai serve`), which the plugin starts when it is not running.
import QtQuick 2.0
import QtQuick.Dialogs 1.2
import MuseScore 3.0
import FileIO 3.0
import "symbolic-ai-ms3.js" as Sai

MuseScore {
    menuPath: "Plugins.symbolic-ai.Align to a recording"
    description: "symbolic-ai: time the score in a recording: tempo marks that follow it, and a MIDI tempo map beside the score"
    version: "0.1.0"
    requiresScore: true

    property var ctx: null

    QProcess { id: proc }
    FileIO { id: file }
    MessageDialog { id: dialog }
    FileDialog {
        id: pick
        title: "symbolic-ai: the recording of this score"
        nameFilters: ["Audio files (*.wav *.flac *.ogg *.mp3)", "All files (*)"]
        selectExisting: true
        onAccepted: {
            ctx.recording = Sai.localPath(pick.fileUrl);
            Sai.run("align", ctx, {});
        }
    }

    onRun: {
        ctx = {
            score: curScore, Element: Element, Placement: Placement, proc: proc, file: file, dialog: dialog,
            newElement: function (type) { return newElement(type); },
            writeScore: function (score, path, ext) { return writeScore(score, path, ext); },
            quit: function () { Qt.quit(); },
            pick: function () { pick.open(); },
            recording: ""
        };
        Sai.align(ctx);
    }
}
