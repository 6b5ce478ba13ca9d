"""xdist scheduling that keeps a task's tests together on one worker.

The agent loop runs in the fixtures of a task's first test, so a task split
across workers would run its loop once per worker. ``TaskScheduling`` is
xdist's scope scheduling with the task folder as the scope; tests outside any
task are scheduled one by one, as under ``--dist load``. The plugin installs it
itself (``pytest_xdist_make_scheduler``): users need no ``--dist`` flag.
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadScopeScheduling

from .tasks import NodeTasks

__all__ = ["TaskScheduling"]


class TaskScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """Scope = the task folder for task tests, the test itself otherwise::

    tasks/discover_sorting/task.toml::schema                 -> tasks/discover_sorting
    tasks/discover_sorting/test_discover_sorting.py::test_x  -> tasks/discover_sorting
    tests/test_scoring.py::test_zero_at_baseline             -> (its own nodeid)
    """

    def __init__(self, config: pytest.Config, log: object | None = None) -> None:
        super().__init__(config, log)  # type: ignore[arg-type]
        self._root = config.rootpath
        self._tasks = NodeTasks(config.rootpath)

    def _split_scope(self, nodeid: str) -> str:
        task_dir = self._tasks.folder(nodeid)
        if task_dir is not None and task_dir.is_relative_to(self._root):
            return str(task_dir.relative_to(self._root))
        return nodeid
