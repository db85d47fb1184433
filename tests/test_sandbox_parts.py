"""The sandbox's pure parts, called directly: the wire both ends share, and building a program."""

from __future__ import annotations

import json
import os
import struct

import pytest

from pytest_humaneval.dataset import Problem
from pytest_humaneval.sandbox import build_program, wire

# ---------------------------------------------------------------------------- the wire


def test_a_frame_is_a_big_endian_length_and_json() -> None:
    data = wire.frame({"ready": True})
    assert data[:4] == struct.pack(">I", len(data) - 4)
    assert json.loads(data[4:]) == {"ready": True}


def test_frames_round_trip_in_any_chunking() -> None:
    messages = [wire.call({"t": [1, "é"]}, {"d": []}), wire.ready(""), wire.returned(None, "out\n")]
    stream = b"".join(wire.frame(m) for m in messages)
    for size in (1, 3, len(stream)):
        frames = wire.Frames()
        received = []
        for i in range(0, len(stream), size):
            frames.feed(stream[i : i + size])
            while (message := frames.next()) is not None:
                received.append(message)
        assert received == messages


def test_frames_read_from_a_file_descriptor_until_eof() -> None:
    r, w = os.pipe()
    try:
        wire.write_all(w, wire.HELLO_FRAME + wire.READY_FRAME)
        os.close(w)
        frames = wire.Frames()
        assert frames.read(r) == {wire.HELLO: True}
        assert frames.read(r) == {wire.READY: True}
        with pytest.raises(EOFError):
            frames.read(r)
    finally:
        os.close(r)


def test_a_frame_above_max_frame_is_refused_from_its_header() -> None:
    frames = wire.Frames()
    frames.feed(struct.pack(">I", wire.MAX_FRAME + 1))  # no payload needed: the header decides
    with pytest.raises(wire.FrameTooLarge):
        frames.next()
    at_limit = wire.Frames()
    at_limit.feed(struct.pack(">I", wire.MAX_FRAME))
    assert at_limit.next() is None  # as large as allowed: waits for the rest


@pytest.mark.parametrize("payload", [b"{", b"[1, 2]", b'"text"', b"[" * 100_000])
def test_a_frame_that_is_not_a_json_object_is_malformed(payload: bytes) -> None:
    frames = wire.Frames()
    frames.feed(struct.pack(">I", len(payload)) + payload)
    with pytest.raises(wire.MalformedFrame):
        frames.next()


def test_the_isolation_report_starts_with_every_layer_off() -> None:
    report = wire.new_report()
    assert [layer for layer in wire.LAYERS if report[layer]] == []
    assert report[wire.NOTES] == [] and report is not wire.new_report()


# ---------------------------------------------------------------------------- building a program


def problem(prompt: str) -> Problem:
    return Problem(
        task_id="T/0",
        prompt=prompt,
        test="def check(candidate):\n    assert candidate(2) == 4\n",
        entry_point="double",
        canonical_solution="    return 2 * x\n",
    )


def test_a_prompt_that_compiles_alone_is_the_tests_preamble() -> None:
    prompt = "import math\n\ndef helper(x):\n    return x\n\ndef double(x):\n    return helper(x) * 2\n"
    program = build_program(problem(prompt), "# unused completion\n")
    assert program.candidate_source == prompt + "# unused completion\n"
    assert program.entry_point == "double"
    assert program.test_source == prompt + "\n" + problem(prompt).test
    assert "return 2 * x" not in program.test_source


def test_a_prompt_that_ends_in_a_bare_signature_gets_the_reference_body_on_the_trusted_side() -> None:
    prompt = "import math\n\n\ndef double(x):\n"
    program = build_program(problem(prompt), "    return x + x\n")
    assert program.candidate_source == prompt + "    return x + x\n"
    assert program.test_source == prompt + "    return 2 * x\n\n" + problem(prompt).test
    compile(program.test_source, "<test>", "exec")
