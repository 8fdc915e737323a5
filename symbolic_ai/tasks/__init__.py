"""Built-in tasks. Importing this package registers every task in `symbolic_ai.registry.TASKS`.

Adding a task is one module here plus one import line below.
"""
from . import key  # noqa: F401
from . import chords  # noqa: F401
from . import harmonize  # noqa: F401
from . import perform  # noqa: F401
from . import emotion  # noqa: F401
