"""Noticing a model that ignores the temperature: every problem's sampled answers come back the same.

Some OpenAI-compatible servers accept ``temperature`` and decode greedily anyway: ``transformers
serve`` samples only when the model's ``generation_config.json`` sets ``do_sample``. A run at n > 1
then scores n copies of one answer, and pass@k for k > 1 is only pass@1, with nothing in the answers
to show it. Plain Python, no pytest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class Answered(Protocol):
    @property
    def task_id(self) -> str: ...

    @property
    def raw(self) -> str | None: ...


def identical_answers_warning(samples: Iterable[Answered], temperature: float) -> str | None:
    """A warning when, at a temperature above 0, every problem's several answers are all alike.

    Only samples with a model's raw answer count (a samples file or the canonical solutions are given,
    not sampled); a problem with one such sample says nothing either way.
    """
    if temperature <= 0:
        return None
    answers: dict[str, list[str]] = {}
    for sample in samples:
        if sample.raw is not None:
            answers.setdefault(sample.task_id, []).append(sample.raw)
    sampled = [texts for texts in answers.values() if len(texts) > 1]
    if not sampled or any(len(set(texts)) > 1 for texts in sampled):
        return None
    n = max(len(texts) for texts in sampled)
    return (
        f"all {n} answers to each of the {len(sampled)} problems are identical at temperature "
        f"{temperature:g}: the model seems to decode greedily whatever the temperature, so pass@k for "
        "k > 1 is only pass@1 (transformers serve, for one, samples only when the model's "
        "generation_config.json sets do_sample)"
    )
