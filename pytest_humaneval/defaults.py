"""Every default that more than one layer needs, defined once: settings, the sandbox and the models import it.

Plain constants, no imports: the sandbox, the models and the settings table all read from here, so a
default shown in ``--help`` is the one the sandbox applies.
"""

from __future__ import annotations

DATASET = "humaneval"
TIMEOUT = 3.0  # seconds a sample may run, not counting time spent waiting for a CPU
MEMORY = 4 * 1024**3  # bytes of address space per sample
MEMORY_TEXT = "4GiB"  # the same, as it is written on the command line
KS = (1, 10, 100)  # pass@k reported when none is named: those the run's n allows
OUTPUT_LIMIT = 64 * 1024  # characters of a sample's stdout and stderr kept for the report
REQUEST_TIMEOUT = 300.0  # seconds one request to a model server may take
RETRIES = 5  # retries of a request that failed transiently
JOBS = "auto"  # samples at once in one pytest process: one per CPU it may run on (settings.parse_jobs)
# Generation: how samples are drawn when the user names nothing.
SAMPLED_TEMPERATURE = 0.8  # for n > 1; one sample is drawn greedily (temperature 0)
SAMPLED_TOP_P = 0.95  # when sampling; greedy decoding uses 1
MAX_TOKENS = {"completion": 512, "chat": 2048}  # chat answers think and explain
# Samples generated at once, per backend: requests in flight, threads, or the batch of a local model.
CONCURRENCY = {"openai": 16, "python": 1, "hf": 8}
# HumanEval+ (EvalPlus 0.3.1's defaults): each input may run max(MIN_TIME_LIMIT, TIME_LIMIT_FACTOR x the
# canonical solution's time on it); the base inputs, and the plus inputs, each at most PART_CAP seconds.
PLUS_URL = "https://github.com/evalplus/humanevalplus_release/releases/download/v0.1.10"
MIN_TIME_LIMIT = 1.0
TIME_LIMIT_FACTOR = 4.0
PART_CAP = 60.0
