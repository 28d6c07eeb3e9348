"""Keep third-party chatter off the user's terminal: one call, made by the CLI before any command runs.

transformers prints a "LOAD REPORT" (the 'Some weights ... were not initialized' table) with raw ANSI colour
codes, and transformers, huggingface_hub, datasets and model2vec draw tqdm bars that tear through understudy's
own progress bars. understudy says what it is doing itself (progress.py), so these are turned off. Python
warnings and errors are left alone: those are the ones that matter to the user.
"""

from __future__ import annotations

import logging
import os
import sys

# Read by huggingface_hub, tokenizers and tqdm itself (TQDM_DISABLE: every tqdm bar made after the import,
# which covers model2vec's "Encoding tokens" bar in model2vec.distill.inference, a bar it gives no option for).
ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "TQDM_DISABLE": "1",
    "DATASETS_VERBOSITY": "error",
    "TRANSFORMERS_VERBOSITY": "error",
}
# Loggers whose warnings are load reports and advice for library developers, not for the user. model2vec's and
# sentence-transformers' warnings (a PCA size too large, a folder without pooling settings) stay: they matter.
LOGGERS = ("transformers", "huggingface_hub", "datasets")


def silence() -> None:
    """Turn off third-party progress bars and load reports; safe to call more than once."""
    # A user who set one to something else keeps their setting.
    mine = {name for name in ENV if os.environ.get(name, ENV[name]) == ENV[name]}
    for name in mine:
        os.environ[name] = ENV[name]
    loud = "TRANSFORMERS_VERBOSITY" not in mine
    for name in LOGGERS:
        if not (loud and name == "transformers"):
            logging.getLogger(name).setLevel(logging.ERROR)
    # The libraries keep their own switches too; only those already imported are touched (imports stay lazy:
    # one imported later reads the environment above).
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        if not loud:
            hf_logging.set_verbosity_error()
        if "HF_HUB_DISABLE_PROGRESS_BARS" in mine:
            hf_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules and "HF_HUB_DISABLE_PROGRESS_BARS" in mine:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "datasets" in sys.modules:
        import datasets

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
    if "TQDM_DISABLE" in mine:
        _tqdm_off()


def _tqdm_off() -> None:
    """tqdm reads TQDM_DISABLE when it is imported; if it was imported before, its bars are turned off here."""
    tqdm = sys.modules.get("tqdm.std")
    if tqdm is None or getattr(tqdm.tqdm.__init__, "_understudy_quiet", False):
        return
    from functools import partialmethod

    init = partialmethod(tqdm.tqdm.__init__, disable=True)  # a caller that passes disable=False still gets its bar
    init._understudy_quiet = True  # type: ignore[attr-defined]
    tqdm.tqdm.__init__ = init
