// symbolic-ai perform for MuseScore 3 (plugin API 3.x): an expressive performance: MIDI file beside the score, note velocities set for playback.
// Works on the range selection, or the whole score when nothing is selected; one undo step.
// Installed by `symbolic-ai hosts install musescore3`; needs the daemon (`symbolic-ai serve`), which
// the plugin starts itself when it is not running. See docs/hosts.md.
import QtQuick 2.0
import QtQuick.Dialogs 1.2
import MuseScore 3.0
import FileIO 3.0
import "symbolic-ai-ms3.js" as Sai

MuseScore {
    menuPath: "Plugins.symbolic-ai.Perform (expressive velocities)"
    description: "symbolic-ai: an expressive performance: MIDI file beside the score, note velocities set for playback"
    version: "0.1.0"
    requiresScore: true

    QProcess { id: proc }
    FileIO { id: file }
    MessageDialog { id: dialog }

    onRun: Sai.run("perform", {
        score: curScore, Element: Element, Placement: Placement, proc: proc, file: file, dialog: dialog,
        newElement: function (type) { return newElement(type); },
        writeScore: function (score, path, ext) { return writeScore(score, path, ext); },
        quit: function () { Qt.quit(); }
    }, {})
}
