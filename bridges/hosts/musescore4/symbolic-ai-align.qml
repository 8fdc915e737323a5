// symbolic-ai align for MuseScore 4 (plugin API 4.x): time the score in a recording of it. Type the
// recording's path (WAV, FLAC, OGG, MP3) and press Align: the daemon aligns the range selection (or the
// whole score) to it, a tempo marking goes at each bar whose tempo in the recording changes (so playback
// follows the recording), and RECORDING.aligned.mid beside the recording is the score on its timeline
// (a tempo map a DAW imports). One undo step. Needs the daemon running (`symbolic-ai serve`). Installed
// by `symbolic-ai hosts install musescore4`; see docs/hosts.md.
import QtQuick 2.15
import QtQuick.Controls 2.15
import MuseScore 3.0
import "symbolic-ai-ms4.js" as Sai

MuseScore {
    title: "symbolic-ai: Align to a recording"
    description: "symbolic-ai: time the score in a recording: tempo marks that follow it, and a MIDI tempo map"
    version: "0.1.0"
    categoryCode: "composing-arranging-tools"
    pluginType: "dialog"
    requiresScore: true
    width: 520
    height: 170

    Column {
        anchors.fill: parent
        anchors.margins: 12
        spacing: 8

        Text { text: "The recording of this score (the path of a WAV, FLAC, OGG or MP3 file):" }

        TextField {
            id: recording
            width: parent.width
            placeholderText: "/home/me/Music/take.wav"
            onAccepted: go.clicked()
        }

        Button {
            id: go
            text: "Align"
            onClicked: {
                ctx.recording = recording.text.trim().replace(/^file:\/\//, "");
                Sai.run("align", ctx, {});
            }
        }

        Text {
            id: status
            width: parent.width
            wrapMode: Text.Wrap
            text: "symbolic-ai: Align to a recording"
        }
    }

    Timer { id: timer; repeat: false; onTriggered: ctx.onTimeout() }

    property var ctx: ({
        score: curScore, Element: Element, Placement: Placement, timer: timer, XMLHttpRequest: XMLHttpRequest,
        newElement: function (type) { return newElement(type); },
        show: function (line) { console.log("symbolic-ai: " + line); status.text = line; },
        onTimeout: function () {},
        recording: ""
    })
}
