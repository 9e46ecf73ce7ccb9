"""Helper processes: frames round-trip, a helper ends at its socket's end, or is killed."""

from __future__ import annotations

import asyncio
import io

from core import helpers


def test_frames_round_trip_and_a_short_stream_ends() -> None:
    values = [{"rows": [1, 2.5, None]}, b"\x00" * 100_000, ValueError("bad page")]
    stream = io.BytesIO(b"".join(helpers.frame(v) for v in values))
    read = [helpers.read_frame(stream) for _ in values]
    assert read[:2] == values[:2] and str(read[2]) == "bad page"
    assert helpers.read_frame(stream) is None
    cut = helpers.frame("whole")[:-2]
    assert helpers.read_frame(io.BytesIO(cut)) is None  # a frame cut short is the end


def test_frames_read_from_an_asyncio_stream_round_trip_and_a_cut_frame_ends() -> None:
    async def read(data: bytes, frames: int) -> list[object]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return [await helpers.read_frame_async(reader) for _ in range(frames)]

    values = [{"rows": [1, 2.5, None]}, b"\x00" * 100_000]
    whole = b"".join(helpers.frame(v) for v in values)
    assert asyncio.run(read(whole, 3)) == [*values, None]
    assert asyncio.run(read(helpers.frame("whole")[:-2], 1)) == [None]


def test_a_helper_exits_when_its_socket_is_shut() -> None:
    process, connection = helpers.start("training.plotter")
    connection.sendall(helpers.frame(("not_a_plot", ())))
    with connection.makefile("rb") as answers:
        answer = helpers.read_frame(answers)  # type: ignore[arg-type]
    assert isinstance(answer, ValueError) and "'not_a_plot' is not a plot" in str(answer)
    helpers.end(process, connection, timeout=30)
    connection.close()
    assert process.returncode == 0


def test_a_helper_that_does_not_stop_is_killed() -> None:
    process, connection = helpers.start("tests.core.sleeper")
    helpers.end(process, connection, timeout=0.5)
    connection.close()
    assert process.returncode == -9
