"""What a clause of an instruction asks for: a question or an order, its verb, its target, its names.

Deterministic reading used by the offline planner and by the loop's "questions only read" guard:

    >>> read("Which apps can reserve stock for an order?").question
    True
    >>> read("Chase it").pronoun_target
    True

Nothing here knows any tool: the vocabularies are English (question words, pronouns, vague verbs),
and the tools' own names, descriptions and schemas decide everything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nexus_agent.planner.entities import Entities, proper_nouns

__all__ = [
    "ACTION_VERBS",
    "WEAK_VERBS",
    "Reading",
    "asks_memory",
    "is_question",
    "memory_subject",
    "proper_nouns",
    "read",
    "strip_values",
]


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_QUESTION_WORDS = _set(
    "what what's whats which who who's whos whose when where why how how's hows is are was were do does did has have "
    "any anything can could should will would"
)
_REQUEST = _set("can could would will")  # 'Can you chase ...' is an order put politely
#: Verbs that ask to be shown something: the clause only reads.
READ_VERBS = _set(
    "show list give tell find search look pull get check see display fetch read view what which who how is are "
    "any whats what's who's how's"
)
_POLITE = _set("please kindly just pls plz also then now")
#: A target that only points back at something never said in this instruction.
_PRONOUNS = _set("it them that this those these one ones him her everything")
#: Imperative verbs that ask for something to be done (not only shown).
ACTION_VERBS = _set(
    "chase book schedule reserve release raise issue run order create send email update approve mark log put set "
    "change cancel delete remove move assign add pay produce generate make post transfer submit close open arrange "
    "pencil remember note jot record nudge remind follow reschedule confirm draft prepare notify ring call text fit "
    "install deliver ship buy purchase reorder give let get have estimate price vet produce generate"
)
#: Verbs that only carry another word's action ('give X a nudge', 'get ORD-1 booked').
WEAK_VERBS = _set("give get send make have let put do run")
#: Verbs that say something should happen but not what: the owner must say which action.
VAGUE_VERBS = _set("sort deal handle do fix manage tidy action process")


def is_question(text: str) -> bool:
    """An interrogative instruction (a question, not a polite order): planned with read-only tools only."""
    words = text.strip().lower().split()
    if not words:
        return False
    first = words[0].strip(",.:;!?")
    if first in _REQUEST and len(words) > 1 and words[1] in {"you", "u", "someone", "somebody", "anyone"}:
        return False  # 'Can you chase Q-1043?' is an order
    if (
        first == "do"
        and len(words) > 1
        and words[1] in {"the", "a", "an", "this", "that", "it", "them", "what", "something", "anything", "whatever"}
    ):
        return False  # 'Do the usual ...' is an order
    if first in _QUESTION_WORDS:
        return True
    return text.rstrip().endswith("?") and first not in _POLITE


#: A question about what Nexus itself knows or was told: 'What do we know about X?', 'Anything in my notes on X?'.
_ASKS_MEMORY = re.compile(
    r"\b(?:do|does|did)\s+(?:we|you|i|nexus)\s+(?:know|remember|recall|have on|hold on)\b"
    r"|\bwhat\s+(?:have|has|did)\s+(?:we|you|i|nexus)\s+(?:noted|recorded|logged|written|remembered|got on|heard)\b"
    r"|\b(?:in|from)\s+(?:my|our|the|your)\s+(?:notes|memory)\b|\bremind me what\b",
    re.I,
)
_SUBJECT = re.compile(r"\b(?:about|on|regarding|re|concerning|for)\s+(.+?)[?.!]*$", re.I)


def asks_memory(text: str) -> bool:
    """A question about what Nexus knows or remembers: answered by searching memory, never an unmet capability."""
    return bool(_ASKS_MEMORY.search(text))


def memory_subject(text: str) -> str:
    """What a memory question is about: the names it states, else the words after 'about'/'on'."""
    names = proper_nouns(text)
    if names:
        return names[0]
    m = _SUBJECT.search(text)
    words = (m[1] if m else "").split()
    kept = [w.strip(",.;:!?") for w in words if w.lower() not in {"the", "a", "an", "our", "my", "any", "anything"}]
    return " ".join(kept[:6])


def strip_values(text: str, entities: Entities) -> str:
    """The text without the values it states (ids, money, dates, names, quoted text): what it is *about*."""
    out = text
    groups = [entities.ids, entities.skus, entities.quoted, entities.emails, entities.postcodes]
    spans = [str(f.value) if g is entities.ids else f.text for g in groups for f in g]  # 'order O-77' keeps 'order'
    spans += [a.text for a in entities.money + entities.percents]
    spans += [d.text for d in entities.durations] + [f.text for f in entities.dates]
    for span in sorted(spans, key=len, reverse=True):
        if span:
            out = out.replace(span, " ")
    for name in sorted({str(n.value) for n in entities.names} | set(proper_nouns(text)), key=len, reverse=True):
        out = re.sub(rf"\b{re.escape(name)}(?:'s|'|’s)?", " ", out)
    return out


@dataclass
class Reading:
    clause: str
    question: bool
    verb: str  # the first word after politeness, lower case ('' when none)
    reads: bool  # a question or a 'show me' order: read-only tools answer it
    vague: bool  # 'sort out the overdue ones': no action named
    pronoun_target: bool  # 'chase it': the target is only a pronoun
    every: bool
    names: list[str] = field(default_factory=list)
    rest: str = ""  # the clause after its opening verb ('chase Q-1043 please' -> 'Q-1043 please')
    verb_phrase: str = ""  # the verb with its particle ('follow that up' -> 'follow up')


_PARTICLES = _set("up out in on off down me us please")
_EVERY = re.compile(r"\b(every|all|each)\b", re.I)


#: How people open a request without its verb: "I'd like to see ...", "can I have ...", "let me know ...".
_OPENERS = re.compile(
    r"^\s*(?:(?:please|pls|just|so|ok|okay|right)[, ]+)*(?:i'?d like to|i would like to|i want to|i need to|"
    r"i'?d like|i want|i need|can i|could i|may i|let me|help me)\s+(?:see|know|have|get|find out|check)?\s*",
    re.I,
)


def read(clause: str) -> Reading:
    opened = _OPENERS.match(clause)
    if opened and opened.end() < len(clause):
        clause = "show " + clause[opened.end() :]  # what they want to see is what is asked for
    words = [w.strip(",.:;!?") for w in clause.lower().split()]
    question = is_question(clause)
    while words and (words[0] in _POLITE or words[0] in _REQUEST or words[0] in {"you", "u", "someone", "somebody"}):
        words = words[1:]
    verb = words[0] if words else ""
    raw = clause.split()
    vague = not question and verb in VAGUE_VERBS
    is_verb = verb in ACTION_VERBS or verb in READ_VERBS or verb in VAGUE_VERBS
    skip = len(raw) - len(words) + (1 if words and is_verb and verb not in _QUESTION_WORDS else 0)
    while skip < len(raw) and raw[skip].lower().strip(",.:;!?") in _PARTICLES:
        skip += 1
    rest_text = " ".join(raw[skip:])
    rest = [w for w in words[1:] if w not in {"the", "a", "an", "up", "out", "in", "on", "for", "me", "us", "all"}]
    pointing = len(rest) <= 3 or rest[1] in _PARTICLES | {"for", "to", "about", "with", "by", "at"}
    pronoun = bool(rest) and rest[0] in _PRONOUNS and pointing and not re.search(r"\b[A-Z]{1,6}-\d", clause)
    pronoun = pronoun or (not question and len(words) <= 3 and any(w in _PRONOUNS for w in words[1:]))
    return Reading(
        clause=clause,
        question=question,
        verb=verb,
        reads=not vague and (question or (verb in READ_VERBS and verb not in WEAK_VERBS) or verb not in ACTION_VERBS),
        vague=vague,
        pronoun_target=pronoun,
        every=bool(_EVERY.search(clause)),
        names=proper_nouns(clause),
        rest=rest_text,
        verb_phrase=" ".join([verb, *[w for w in words[1:4] if w in _PARTICLES][:1]]),
    )
