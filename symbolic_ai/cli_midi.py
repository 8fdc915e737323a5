"""`symbolic-ai midi`: the live MIDI bridge's command line (the bridge is `symbolic_ai.bridges.midi`).

  symbolic-ai midi --list [--api API]
  symbolic-ai midi TASK [--name NAME] [--in PORT] [--out PORT] [--bpm N | --clock] [options]

TASK is harmonize, chords, perform or emotion; its task options come from the registry.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from .registry import get

LIVE_TASKS = {
    "harmonize": "the melody played in → a voiced chord out at each bar, half bar or beat",
    "chords": "what is played in → the chord symbol as OSC (and a held bass note or chord)",
    "perform": "quantized notes in → the same notes performed, a fixed look-ahead later",
    "emotion": "what is played in → valence and arousal as two CCs and OSC, a few times a second",
}
# task parameters each live task takes (bridges.midi.app.TASK_PARAMS checks the same list)
LIVE_PARAMS = {
    "harmonize": ("style", "rhythm", "register_pitch", "temperature", "seed", "method"),
    "chords": ("method", "switch_cost"),
    "perform": ("emotion", "style", "guidance", "steps", "seed", "temperature", "valence", "arousal"),
    "emotion": (),
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api", default="auto", choices=("auto", "alsa", "jack", "coremidi", "windows"),
                   help="MIDI system (default: $MIDO_BACKEND, else JACK where Linux has no ALSA sequencer)")


def add_parser(sub: Any) -> None:
    """The `midi` subcommand and one sub-subcommand per live task."""
    p = sub.add_parser("midi", help="live MIDI bridge: virtual ports that harmonize, perform, name chords and "
                                    "track emotion in real time (see docs/midi.md)")
    p.add_argument("--list", action="store_true", help="list the MIDI ports and exit")
    _common(p)
    tasks = p.add_subparsers(dest="midi_task", metavar="TASK", parser_class=type(p))
    for name, summary in LIVE_TASKS.items():
        t = tasks.add_parser(name, help=summary, description=summary)
        _common(t)
        t.add_argument("--name", default="symbolic-ai", help="virtual ports 'NAME in' and 'NAME out' "
                                                              "(default symbolic-ai)")
        t.add_argument("--in", dest="in_port", metavar="PORT", help="read an existing port instead of a virtual one")
        t.add_argument("--out", dest="out_port", metavar="PORT", help="write an existing port instead")
        timing = t.add_mutually_exclusive_group()
        timing.add_argument("--bpm", type=float, default=120.0, help="fixed tempo; beat 0 is the first note "
                                                                     "(default 120)")
        timing.add_argument("--clock", action="store_true", help="follow MIDI clock (start/stop/continue, "
                                                                  "song position) from the input")
        t.add_argument("--time-signature", default="4/4", help="bars for the beat count (default 4/4)")
        t.add_argument("--latency-ms", type=float, default=30.0,
                       help="an answer later than this after its moment is dropped, not played (default 30)")
        t.add_argument("--channel", type=int, default=1, help="output channel 1..16 (default 1)")
        t.add_argument("--drums", action="store_true", help="treat channel 10 as notes (default: pass it through)")
        t.add_argument("--thru", action="store_true", help="also send what comes in to the output")
        t.add_argument("--osc-port", type=int, help="send chord names / emotion as OSC to this UDP port")
        t.add_argument("--osc-host", default="127.0.0.1", help="host for --osc-port (default 127.0.0.1)")
        t.add_argument("--quiet", action="store_true", help="no status line")
        if name == "harmonize":
            t.add_argument("--context-bars", type=int, default=4, help="bars of melody the model hears (default 4)")
            t.add_argument("--idle-bars", type=int, default=2, help="bars of silence before the bridge rests "
                                                                    "and counts again from the next note")
        elif name == "chords":
            t.add_argument("--chord-output", dest="output", default="none", choices=("none", "bass", "chord"),
                           help="also hold the chord's bass note or the voiced chord on --channel")
            t.add_argument("--register", dest="register_pitch", type=int, default=60, help="centre of the voicing")
        elif name == "perform":
            t.add_argument("--lookahead-beats", type=float, default=1.0,
                           help="delay of the output; timing moves within half of it both ways (default 1)")
        elif name == "emotion":
            t.add_argument("--window-beats", type=float, default=16.0, help="beats the estimate covers (default 16)")
            t.add_argument("--cc-valence", type=int, default=20, help="controller for valence (default 20)")
            t.add_argument("--cc-arousal", type=int, default=21, help="controller for arousal (default 21)")
            t.add_argument("--max-rate", type=float, default=4.0, help="updates per second at most (default 4)")
        group = t.add_argument_group("task parameters")
        for prm in get(name).params:
            if prm.name in LIVE_PARAMS[name]:
                choices = f" (one of: {', '.join(map(str, prm.choices))})" if prm.choices else ""
                group.add_argument("--" + prm.name.replace("_", "-"), dest=f"param_{prm.name}", metavar="VALUE",
                                   help=f"{prm.help}{choices}; default {prm.default!r}")


OPTION_NAMES = ("context_bars", "idle_bars", "output", "register_pitch", "lookahead_beats", "window_beats",
                "cc_valence", "cc_arousal", "max_rate")


def cmd_midi(args: argparse.Namespace) -> int:
    from .bridges.midi.app import MidiConfig, ports_text, serve

    if args.list:
        print(ports_text(args.api))
        return 0
    if not args.midi_task:
        print("symbolic-ai midi: error: give a TASK (harmonize, chords, perform, emotion) or --list "
              "(see symbolic-ai midi --help)", file=sys.stderr)
        return 2
    params = {k[len("param_"):]: v for k, v in vars(args).items() if k.startswith("param_") and v is not None}
    options = {k: getattr(args, k) for k in OPTION_NAMES if hasattr(args, k)}
    cfg = MidiConfig(args.midi_task, name=args.name, in_port=args.in_port, out_port=args.out_port, api=args.api,
                     bpm=args.bpm, clock=args.clock, time_signature=args.time_signature, latency_ms=args.latency_ms,
                     channel=args.channel, drums=args.drums, thru=args.thru, osc_host=args.osc_host,
                     osc_port=args.osc_port, params=params, options=options,
                     status=not args.quiet and sys.stderr.isatty())
    code: int = serve(cfg)
    return code
