"""`symbolic-ai midi TASK`: virtual MIDI ports that harmonize, recognise chords, perform and track
emotion in real time (docs/midi.md).

`ports.py` opens the MIDI system (mido over python-rtmidi: ALSA, JACK, CoreMIDI, Windows MM),
`clock.py` keeps the beat (fixed tempo or MIDI clock), `engine.py` runs the MIDI thread beside an
inference worker and guarantees a note-off for every note-on, `behaviours.py` says what each task
does live, and `app.py` puts them together for the command line.
"""
