"""symbolic_ai: symbolic-music AI as music-for-music transforms.

```python
import symbolic_ai as sai
piece = sai.load("chorale.musicxml")
result = sai.run("key", piece)
print(result.data["key"])          # 'G major'
sai.save(result.piece, "out.mid")  # annotations become MIDI markers
```
"""
from __future__ import annotations

__version__ = "0.1.0"

from .batching import batch
from .errors import InputError, ModelError, ParameterError, SymbolicAIError, UnknownTaskError
from .io import load, load_all, save
from .piece import NOTE_DTYPE, Annotation, KeySignature, Piece, Tempo, TimeSignature, Track, empty_notes, notes_from_columns
from .registry import TASKS, Result, run

__all__ = [
                     "NOTE_DTYPE",
                     "TASKS",
                     "Annotation",
                     "InputError",
                     "KeySignature",
                     "ModelError",
                     "ParameterError",
                     "Piece",
                     "Result",
                     "SymbolicAIError",
                     "Tempo",
                     "TimeSignature",
                     "Track",
                     "UnknownTaskError",
                     "__version__",
                     "batch",
                     "empty_notes",
                     "load",
                     "load_all",
                     "notes_from_columns",
                     "run",
                     "save",
]
