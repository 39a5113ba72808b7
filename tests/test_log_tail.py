"""A step log's last lines are read from its end only, and are exactly what reading the whole
file would give (``runs logs --tail``), or, capped (``log_tail`` of a failed step), the last
lines of its last 256 KiB."""

from __future__ import annotations

from app.services.runs import _TAIL_BYTES, _last_lines


def test_last_lines_equal_those_of_the_whole_file_for_short_long_and_huge_lines(tmp_path):
    path = tmp_path / "step.log"
    cases = [[], ["only"], [f"line {i}" for i in range(50_000)], ["y" * 200_000 + str(i) for i in range(5)],
             ["", "", "after blanks"]]
    for lines in cases:
        for end in ("", "\n"):
            text = "\n".join(lines) + end
            path.write_text(text)
            for n in (1, 2, 20, 1000):
                assert _last_lines(path, n) == text.splitlines()[-n:]


def test_a_capped_tail_drops_the_cut_line_at_the_start_of_its_window(tmp_path):
    path = tmp_path / "step.log"
    text = "x" * (_TAIL_BYTES + 10) + "\nlast"
    path.write_text(text)
    assert _last_lines(path, 5, _TAIL_BYTES) == ["last"]
    assert _last_lines(path, 5) == text.splitlines()
