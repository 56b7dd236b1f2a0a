"""Tool selection: rank every reachable tool against an instruction with BM25F.

Each tool is a document with four fields, each normalised by
:func:`nexus_agent.planner.text.terms` (stems + business synonyms):

====================  ======  ====  ===========================================
field                 weight  b     text
====================  ======  ====  ===========================================
``tool``              3.0     0.3   the tool part of the name, split into words
``source``            1.5     0.3   the app slug part of the name
``description``       1.0     0.75  the tool's title and description
``capabilities``      1.2     0.5   its app's capabilities from the registry
====================  ======  ====  ===========================================

BM25F sums weighted, length-normalised term frequencies over fields, then
saturates once: ``score = sum_t idf(t) * tf~ * (k1 + 1) / (k1 + tf~)``. The
document side of that product does not depend on the query, so the index stores
it per (term, tool) and a query is a sum over a few postings lists: a 5,000-tool
catalogue answers in well under a millisecond. Indexes are built once per
catalogue fingerprint and cached.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from nexus_agent.planner.catalogue import Catalogue, ToolDescriptor
from nexus_agent.planner.text import split_identifier, terms

__all__ = ["DEFAULT_TOP_K", "FIELDS", "RankedTool", "ToolIndex", "ToolSelector", "recall_at_k"]

DEFAULT_TOP_K = 24


@dataclass(frozen=True)
class _Field:
    name: str
    weight: float
    b: float
    text: Callable[[ToolDescriptor], str]


def _tool_part(d: ToolDescriptor) -> str:
    return split_identifier(d.name.split("__", 1)[-1])


def _source_part(d: ToolDescriptor) -> str:
    return split_identifier(d.name.split("__", 1)[0]) if "__" in d.name else split_identifier(d.source)


FIELDS: tuple[_Field, ...] = (
    _Field("tool", 3.0, 0.3, _tool_part),
    _Field("source", 1.5, 0.3, _source_part),
    _Field("description", 1.0, 0.75, lambda d: f"{d.title}. {d.description}"),
    _Field("capabilities", 1.2, 0.5, lambda d: ". ".join(d.app_capabilities)),
)


@dataclass(frozen=True)
class RankedTool:
    descriptor: ToolDescriptor
    score: float
    rank: int  # 1-based
    matched: tuple[str, ...] = ()  # query terms that matched, for the selection rationale
    contributions: Mapping[str, float] = field(default_factory=dict)  # the score split by query term


class ToolIndex:
    """A BM25F index over one catalogue."""

    def __init__(self, descriptors: Sequence[ToolDescriptor], *, k1: float = 1.2) -> None:
        self.tools = list(descriptors)
        self.k1 = k1
        n = len(self.tools)
        field_terms = [[terms(f.text(d)) for f in FIELDS] for d in self.tools]
        avg = [max(1e-9, sum(len(ft[i]) for ft in field_terms) / max(1, n)) for i in range(len(FIELDS))]
        df: dict[str, int] = defaultdict(int)
        weighted: list[dict[str, float]] = []
        for per_field in field_terms:
            tf: dict[str, float] = defaultdict(float)
            for i, (f, words) in enumerate(zip(FIELDS, per_field, strict=True)):
                if not words:
                    continue
                norm = 1.0 - f.b + f.b * len(words) / avg[i]
                for w in words:
                    tf[w] += f.weight / norm
            weighted.append(tf)
            for w in tf:
                df[w] += 1
        self.idf = {w: math.log(1.0 + (n - c + 0.5) / (c + 0.5)) for w, c in df.items()}
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for doc, tf in enumerate(weighted):
            for w, t in tf.items():
                postings[w].append((doc, t * (k1 + 1.0) / (k1 + t)))
        self.postings = dict(postings)

    def __len__(self) -> int:
        return len(self.tools)

    def search(
        self,
        query: str | Sequence[str],
        k: int = DEFAULT_TOP_K,
        *,
        keep: Callable[[ToolDescriptor], bool] | None = None,
    ) -> list[RankedTool]:
        """The ``k`` best tools with a positive score (ties: by name), optionally filtered by ``keep``."""
        query_terms = list(dict.fromkeys(terms(query) if isinstance(query, str) else query))
        scores: dict[int, float] = defaultdict(float)
        hits: dict[int, dict[str, float]] = defaultdict(dict)
        for w in query_terms:
            idf = self.idf.get(w)
            if idf is None:
                continue
            for doc, part in self.postings[w]:
                scores[doc] += idf * part
                hits[doc][w] = idf * part
        candidates: Iterable[tuple[int, float]] = scores.items()
        if keep is not None:
            candidates = ((doc, s) for doc, s in candidates if keep(self.tools[doc]))
        best = heapq.nsmallest(k, candidates, key=lambda item: (-item[1], self.tools[item[0]].name))
        return [
            RankedTool(self.tools[doc], round(score, 4), rank, tuple(hits[doc]), hits[doc])
            for rank, (doc, score) in enumerate(best, start=1)
        ]


class ToolSelector:
    """Ranks a catalogue's tools against instructions; keeps the indexes of recent catalogues."""

    def __init__(self, *, top_k: int = DEFAULT_TOP_K, cache_size: int = 4, k1: float = 1.2) -> None:
        self.top_k = top_k
        self.k1 = k1
        self._cache: OrderedDict[int, ToolIndex] = OrderedDict()
        self._cache_size = cache_size
        self.builds = 0

    def index(self, catalogue: Catalogue) -> ToolIndex:
        index = self._cache.get(catalogue.fingerprint)
        if index is None:
            index = ToolIndex(list(catalogue.tools.values()), k1=self.k1)
            self.builds += 1
            self._cache[catalogue.fingerprint] = index
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(catalogue.fingerprint)
        return index

    def select(
        self,
        catalogue: Catalogue,
        instruction: str,
        *,
        k: int | None = None,
        keep: Callable[[ToolDescriptor], bool] | None = None,
    ) -> list[RankedTool]:
        return self.index(catalogue).search(instruction, k or self.top_k, keep=keep)


def recall_at_k(ranked: Sequence[str], expected: Iterable[str], k: int) -> float:
    """Share of the expected tool names found among the first ``k`` ranked names."""
    wanted = set(expected)
    if not wanted:
        return 1.0
    return len(wanted & set(ranked[:k])) / len(wanted)
