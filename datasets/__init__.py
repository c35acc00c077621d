"""The datasets app: Dataset and Example, the file readers and the import service.

`datasets` is also the import name of Hugging Face's package, which `evaluate` is built on, and this app
comes first on sys.path. `use_hugging_face_datasets()` makes this one package serve both: it appends
Hugging Face's directory to `__path__` (so `datasets.features`, `datasets.utils`, ... resolve to its
submodules) and runs its `__init__` here. The metrics code calls it before importing `evaluate`; nothing
else pays for importing Hugging Face's package. Our submodules must not take one of its names
(features, splits, load, io, utils, ...).
"""

import logging
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _hugging_face_dir():
    for entry in sys.path:
        candidate = os.path.abspath(os.path.join(entry or os.getcwd(), "datasets"))
        if candidate != _HERE and os.path.isfile(os.path.join(candidate, "__init__.py")):
            return candidate
    return None


def use_hugging_face_datasets():
    if "DatasetInfo" in globals():
        return
    directory = _hugging_face_dir()
    if directory is None:
        raise ImportError("Hugging Face `datasets` is not installed; `pip install -r requirements.txt`.")
    # Hugging Face's package gives the "datasets" logger, which is also this app's, a handler and a level
    # of its own: put them back afterwards.
    app_logger = logging.getLogger(__name__)
    level, handlers = app_logger.level, list(app_logger.handlers)
    __path__.append(directory)
    init = os.path.join(directory, "__init__.py")
    with open(init, encoding="utf-8") as source:
        exec(compile(source.read(), init, "exec"), globals())
    app_logger.setLevel(level)
    app_logger.handlers[:] = handlers
