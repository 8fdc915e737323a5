"""Built-in tasks, one module each; each module registers its task with `@registry.task`.

`symbolic_ai.registry.load_builtin_tasks` imports the modules listed in `registry.BUILTIN_TASKS`
(the first read of `registry.TASKS` calls it). Adding a task is one module here plus its name there.
"""
