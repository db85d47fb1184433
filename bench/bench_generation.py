"""Generation throughput of the `openai:` backend against a local server that takes 100 ms per request.

The server (``tests/openai_server.py``, in its own process so it does not share our interpreter lock)
answers every HumanEval prompt with its reference solution after a fixed latency. With C requests in
flight and L seconds each, no client can do better than C / L samples per second: the bound. Run
from the repository root with the project installed:

    python bench/bench_generation.py [--concurrency 32] [--latency 0.1] [--n 10] [--repeat 3]

It prints samples per second (the best of the repeats), the bound, and the ratio to the bound.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.openai_server

from pytest_humaneval.dataset import load
from pytest_humaneval.models import GenerationOptions, GenerationRequest, Sampling
from pytest_humaneval.models.openai_api import OpenAIBackend


def serve(latency: float, pipe: Connection) -> None:
    from tests.openai_server import FakeOpenAI

    answers = {p.prompt: [p.canonical_solution] for p in load().problems}
    with FakeOpenAI(answers, latency=latency) as server:
        pipe.send(server.url)
        pipe.recv()  # until the benchmark is done
        pipe.send(server.total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the server takes per request")
    parser.add_argument("--n", type=int, default=10, help="samples per problem (default 10)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    args = parser.parse_args()

    dataset = load()
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(args.latency, theirs), daemon=True)
    server.start()
    url = ours.recv()
    backend = OpenAIBackend("openai:bench")
    request = GenerationRequest(
        dataset=dataset,
        problems=dataset.problems,
        n=args.n,
        sampling=Sampling(temperature=0.8, top_p=0.95, seed=0),
        options=GenerationOptions(
            prompt_style="completion", concurrency=args.concurrency, base_url=url, cache_dir=None
        ),
    )
    rates = []
    for run in range(args.repeat):
        started = time.perf_counter()
        completions = backend.complete(request)
        elapsed = time.perf_counter() - started
        wrong = sum(
            c.completion != dataset[c.task_id].canonical_solution for c in completions
        )  # the stops must leave the reference solutions whole
        if len(completions) != len(dataset) * args.n or wrong:
            sys.exit(f"run {run + 1}: {len(completions)} completions, {wrong} not the reference solution")
        rates.append(len(completions) / elapsed)
        print(f"run {run + 1}: {len(completions)} samples in {elapsed:.2f} s = {rates[-1]:.1f} samples/s")
    ours.send("done")
    requests = ours.recv()
    server.join(timeout=10)
    bound = args.concurrency / args.latency
    best = max(rates)
    print(f"server saw {requests} requests for {args.repeat} x {len(dataset) * args.n} samples")
    print(
        f"throughput: {best:.1f} samples/s (best of {args.repeat}); bound {args.concurrency} / "
        f"{args.latency:g} s = {bound:.0f} samples/s; ratio {best / bound:.2f}"
    )


if __name__ == "__main__":
    main()
