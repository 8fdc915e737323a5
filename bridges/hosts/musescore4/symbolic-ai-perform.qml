// symbolic-ai perform for MuseScore 4 (plugin API 4.x): note velocities from an expressive performance, for playback.
// Works on the range selection, or the whole score when nothing is selected; one undo step. Needs the
// daemon running (`symbolic-ai serve`). Installed by `symbolic-ai hosts install musescore4`; see docs/hosts.md.
import QtQuick 2.15
import MuseScore 3.0
import "symbolic-ai-ms4.js" as Sai

MuseScore {
    title: "symbolic-ai: Perform (expressive velocities)"
    description: "symbolic-ai: note velocities from an expressive performance, for playback"
    version: "0.1.0"
    categoryCode: "composing-arranging-tools"
    pluginType: "dialog"
    requiresScore: true
    width: 420
    height: 90

    Text {
        id: status
        anchors.fill: parent
        anchors.margins: 12
        wrapMode: Text.Wrap
        text: "symbolic-ai: Perform (expressive velocities)"
    }

    Timer { id: timer; repeat: false; onTriggered: ctx.onTimeout() }

    property var ctx: ({
        score: curScore, Element: Element, Placement: Placement, timer: timer, XMLHttpRequest: XMLHttpRequest,
        newElement: function (type) { return newElement(type); },
        show: function (line) { console.log("symbolic-ai: " + line); status.text = line; },
        onTimeout: function () {}
    })

    onRun: Sai.run("perform", ctx, {})
}
