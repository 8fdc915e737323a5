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

from .errors import (InputError, ModelError, ParameterError, SymbolicAIError,  # noqa: E402
                     UnknownTaskError)
from .io import load, save  # noqa: E402
from .piece import (NOTE_DTYPE, Annotation, KeySignature, Piece, Tempo,  # noqa: E402
                    TimeSignature, Track)
from .registry import TASKS, Result, run  # noqa: E402

__all__ = ["load", "save", "run", "TASKS", "Piece", "Result", "NOTE_DTYPE", "Annotation", "Track",
           "Tempo", "TimeSignature", "KeySignature", "SymbolicAIError", "InputError",
           "ParameterError", "UnknownTaskError", "ModelError", "__version__"]
