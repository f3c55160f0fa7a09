"""TextAssembler: UTF-8 across tokens and stop sequences across token boundaries."""

from __future__ import annotations

from hearth.engine.text import TextAssembler


def feed_all(asm: TextAssembler, pieces: list[bytes]) -> tuple[str, bool, list[int]]:
    out, released = "", []
    for piece in pieces:
        step = asm.feed(piece)
        out += step.text
        released.append(step.released_tokens)
        if step.stopped:
            return out, True, released
    step = asm.flush()
    released.append(step.released_tokens)
    return out + step.text, False, released


def test_no_stop_passes_text_through_immediately() -> None:
    asm = TextAssembler()
    assert asm.feed(b"Hello").text == "Hello"
    assert asm.feed(b" world").text == " world"


def test_multibyte_character_split_across_tokens() -> None:
    euro = "€".encode()
    asm = TextAssembler()
    first = asm.feed(euro[:2])
    assert first.text == "" and first.released_tokens == 0
    second = asm.feed(euro[2:])
    assert second.text == "€" and second.released_tokens == 2


def test_stop_spanning_tokens_is_never_emitted() -> None:
    text, stopped, _ = feed_all(TextAssembler(["END"]), [b"abc E", b"N", b"D more"])
    assert (text, stopped) == ("abc ", True)


def test_partial_stop_prefix_is_held_then_released() -> None:
    asm = TextAssembler(["STOP"])
    assert asm.feed(b"go ST").text == "go "
    step = asm.feed(b"ART")
    assert step.text == "START" and not step.stopped


def test_earliest_of_several_stops_wins() -> None:
    text, stopped, _ = feed_all(TextAssembler(["b", "a"]), [b"xxabyy"])
    assert (text, stopped) == ("xx", True)


def test_flush_releases_held_prefix_at_end() -> None:
    text, stopped, _ = feed_all(TextAssembler(["\n\n"]), [b"line", b"\n"])
    assert (text, stopped) == ("line\n", False)


def test_released_token_counts_track_logprobs() -> None:
    asm = TextAssembler(["XY"])
    assert asm.feed(b"ab").released_tokens == 1
    step = asm.feed(b"cX")  # "c" goes out; the token stays held: "X" may start the stop
    assert (step.text, step.released_tokens) == ("c", 0)
    step = asm.feed(b"Yz")  # the stop matched: "cX" counts (its "c" was sent), "Yz" doesn't
    assert (step.stopped, step.text, step.released_tokens) == (True, "", 1)
