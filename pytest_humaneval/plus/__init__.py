"""HumanEval+ (EvalPlus): its release files, expected outputs, EvalPlus's oracle and the run's tests.

The parts, each a module: :mod:`.release` (the pinned files and their download), :mod:`.expected` (the
canonical solutions' outputs and times, computed in a child process and cached), :mod:`.oracle`
(EvalPlus's comparison rules), :mod:`.suite` (a run's tests, as call parts for the sandbox, and their
wire form) and :mod:`.figures` (base and plus pass@k for the reports).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from ..dataset import Dataset, load
from ..plan import Plan
from ..settings import Settings
from .release import RELEASES, default_data_dir, fetch
from .suite import PlusSuite, build_suite

PLUS_FIELDS = ("base_input", "plus_input")


def data_dir(settings: Settings, environ: Mapping[str, str] = os.environ) -> Path:
    """--humaneval-data-dir, else the user's cache directory."""
    return settings.data_dir if settings.data_dir is not None else default_data_dir(environ)


def load_dataset(settings: Settings, base_dir: Path, progress: bool) -> Dataset:
    """The run's problem set: a HumanEval+ release by name (downloaded once), else as dataset.load."""
    release = RELEASES.get(settings.dataset)
    if release is None:
        return _identified(load(settings.dataset, base_dir))
    path = fetch(release, data_dir(settings), settings.plus_url, progress)
    dataset = dataclasses.replace(load(str(path)), name=release.title)
    return _identified(dataset)


def _identified(dataset: Dataset) -> Dataset:
    """A HumanEval+ set's sha256 covers its inputs too: Mini and the full set share every prompt and test."""
    if not is_plus(dataset):
        return dataset
    digest = hashlib.sha256(dataset.sha256.encode())
    for problem in dataset.problems:
        fields = [problem.extra.get(name) for name in (*PLUS_FIELDS, "atol")]
        digest.update(json.dumps(fields).encode())
    return dataclasses.replace(dataset, sha256=digest.hexdigest())


def is_plus(dataset: Dataset) -> bool:
    """Whether the problems come with EvalPlus's inputs (``base_input``, ``plus_input``)."""
    return all(all(name in problem.extra for name in PLUS_FIELDS) for problem in dataset.problems)


def with_suite(plan: Plan, dataset: Dataset, settings: Settings) -> Plan:
    """The plan with its HumanEval+ tests when the dataset has them; the plan as it is otherwise."""
    if not is_plus(dataset):
        return plan
    store = data_dir(settings) / "expected"
    suite = build_suite(plan.problems, store, settings.min_time_limit, settings.time_limit_factor)
    return dataclasses.replace(plan, plus=suite)


__all__ = ["RELEASES", "PlusSuite", "data_dir", "is_plus", "load_dataset", "with_suite"]
