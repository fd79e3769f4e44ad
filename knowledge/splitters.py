"""Splitting a document's text into chunks (reference extras §1.5): ``sentence`` and ``smart``.

Every chunk keeps its exact character span in the text (``start``/``end``), so a citation can
point into the document. Text is cut at the most natural boundary that keeps a piece within
``chunk_size`` (a paragraph, then a line, a sentence, a word, at worst characters), pieces are
packed into chunks up to ``chunk_size``, and each chunk repeats up to ``chunk_overlap``
characters of whole pieces from the end of the previous one.

``smart`` picks by file type, as the reference: Markdown is cut at headers first (a chunk never
spans two sections) then by sentences (``markdown_sentence``); ``.txt`` by sentences
(``sentence``); anything else by the recursive character rule (``recursive_character``).
``semantic`` groups sentences by meaning: each sentence with ``buffer_size`` neighbours on each
side is embedded, and a chunk ends where the distance between consecutive groups is above the
``breakpoint_percentile_threshold`` percentile of all distances (as the reference's splitter);
a chunk longer than the largest chunk size (8192) is cut further by sentences. It needs the
knowledge base's embedding model; without one it is split as ``smart`` and recorded as such.
The default (an empty config) is ``smart`` here: ``semantic`` costs an embedding per sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

SENTENCE, SMART, SEMANTIC = "sentence", "smart", "semantic"
TYPES = (SENTENCE, SMART, SEMANTIC)
DEFAULTS = {SENTENCE: (1024, 200), SMART: (1024, 50)}
_SENTENCE_END = re.compile("(?<=[.!?\u3002\uff01\uff1f])\\s+")
_HEADER = re.compile(r"^#{1,6}\s", re.MULTILINE)


@dataclass(frozen=True)
class Chunk:
    content: str
    start: int
    end: int

    @property
    def token_count(self) -> int:
        return max(1, len(self.content) // 4)  # the reference's estimate


@dataclass(frozen=True)
class Split:
    chunks: list[Chunk]
    splitter_type: str
    splitter_subtype: str


def _cut(text: str, start: int, end: int, separators: list[Any], limit: int) -> Iterator[tuple[int, int]]:
    """Spans covering ``text[start:end]``, each at most ``limit`` long, cut at the first
    separator (a string or a compiled pattern) that makes the span small enough."""
    if end - start <= limit:
        yield start, end
        return
    if not separators:
        for s in range(start, end, limit):
            yield s, min(s + limit, end)
        return
    sep, rest = separators[0], separators[1:]
    cuts: list[int] = []
    if isinstance(sep, str):
        i = text.find(sep, start, end)
        while i != -1:
            cuts.append(i + len(sep))
            i = text.find(sep, i + len(sep), end)
    else:
        cuts = [m.end() for m in sep.finditer(text, start, end)]
    if not cuts:
        yield from _cut(text, start, end, rest, limit)
        return
    prev = start
    for c in [*cuts, end]:
        if c > prev:
            yield from _cut(text, prev, c, rest, limit)
            prev = c


def _pack(text: str, spans: list[tuple[int, int]], size: int, overlap: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    current: list[tuple[int, int]] = []
    for span in spans:
        if current and span[1] - current[0][0] > size:
            chunks.append(_chunk(text, current))
            # Carry the last whole pieces that fit the overlap (and leave room for this one).
            carried: list[tuple[int, int]] = []
            for piece in reversed(current):
                if current[-1][1] - piece[0] > overlap or span[1] - piece[0] > size:
                    break
                carried.insert(0, piece)
            current = carried
        current.append(span)
    if current:
        chunks.append(_chunk(text, current))
    return [c for c in chunks if c.content.strip()]


def _chunk(text: str, spans: list[tuple[int, int]]) -> Chunk:
    start, end = spans[0][0], spans[-1][1]
    return Chunk(text[start:end], start, end)


def _sentence(text: str, start: int, end: int, size: int, overlap: int, separator: str) -> list[Chunk]:
    seps: list[Any] = [separator or "\n\n", "\n", _SENTENCE_END, " "]
    return _pack(text, list(_cut(text, start, end, seps, size)), size, overlap)


def _recursive(text: str, size: int, overlap: int) -> list[Chunk]:
    seps: list[Any] = ["\n\n", "\n", _SENTENCE_END, " "]
    return _pack(text, list(_cut(text, 0, len(text), seps, size)), size, overlap)


def _markdown(text: str, size: int, overlap: int) -> list[Chunk]:
    bounds = [m.start() for m in _HEADER.finditer(text)]
    starts = sorted({0, *bounds})
    chunks: list[Chunk] = []
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(text)
        chunks.extend(_sentence(text, s, e, size, overlap, "\n\n"))
    return chunks


MAX_CHUNK = 8192
_SENTENCE_OR_PARAGRAPH = re.compile("(?<=[.!?\u3002\uff01\uff1f])\\s+|\n{2,}")
Embed = Callable[[list[str]], list[list[float]]]


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _SENTENCE_OR_PARAGRAPH.finditer(text):
        if text[start : match.start()].strip():
            spans.append((start, match.end()))
            start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _semantic(text: str, buffer_size: int, percentile: int, embed: Embed) -> list[Chunk]:
    spans = _sentence_spans(text)
    if len(spans) < 3:
        groups_of_spans = [spans] if spans else []
    else:
        windows = [
            text[spans[max(0, i - buffer_size)][0] : spans[min(len(spans) - 1, i + buffer_size)][1]]
            for i in range(len(spans))
        ]
        vectors = embed(windows)
        distances = [
            1 - sum(a * b for a, b in zip(vectors[i], vectors[i + 1], strict=False))
            for i in range(len(spans) - 1)
        ]
        threshold = _percentile(distances, percentile / 100)
        groups_of_spans, current = [], [spans[0]]
        for i, distance in enumerate(distances):
            if distance > threshold:
                groups_of_spans.append(current)
                current = []
            current.append(spans[i + 1])
        groups_of_spans.append(current)
    chunks: list[Chunk] = []
    for group in groups_of_spans:
        start, end = group[0][0], group[-1][1]
        if end - start > MAX_CHUNK:
            chunks.extend(_sentence(text, start, end, MAX_CHUNK, 0, "\n\n"))
        elif text[start:end].strip():
            chunks.append(Chunk(text[start:end], start, end))
    return chunks


def split(text: str, config: dict[str, Any] | None, extension: str, embed: Embed | None = None) -> Split:
    """``text`` cut by ``config`` (a validated splitter config; empty means ``smart``);
    ``embed`` (texts -> unit vectors) is what ``semantic`` needs."""
    config = dict(config or {})
    kind = config.get("type") or SMART
    if kind == SEMANTIC and embed is not None:
        buffer_size = int(config.get("buffer_size") or 1)
        percentile = int(config.get("breakpoint_percentile_threshold") or 95)
        return Split(_semantic(text, buffer_size, percentile, embed), SEMANTIC, SEMANTIC)
    if kind == SEMANTIC:
        kind = SMART
    size_default, overlap_default = DEFAULTS[kind]
    size = int(config.get("chunk_size") or size_default)
    overlap = int(config.get("chunk_overlap", overlap_default) or 0)
    overlap = min(overlap, size - 1)
    if kind == SENTENCE:
        chunks = _sentence(text, 0, len(text), size, overlap, str(config.get("separator") or "\n\n"))
        return Split(chunks, SENTENCE, SENTENCE)
    ext = (config.get("file_extension") or extension or "").lower().lstrip(".")
    subtype = config.get("subtype")
    if subtype == "markdown_sentence" or (not subtype and ext in ("md", "markdown")):
        return Split(_markdown(text, size, overlap), SMART, "markdown_sentence")
    if subtype == SENTENCE or (not subtype and ext == "txt"):
        return Split(_sentence(text, 0, len(text), size, overlap, "\n\n"), SMART, SENTENCE)
    return Split(_recursive(text, size, overlap), SMART, "recursive_character")
