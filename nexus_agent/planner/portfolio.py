"""Questions about the portfolio itself, answered with the registry and gap tools and their filters.

'Which apps can reserve stock for an order?' -> ``registry_list(text='reserve stock order')``;
'What can the quote engine do?' -> ``registry_get(slug='quote-engine')``; 'Is there anything that
handles site surveys?' -> ``gaps_analyse(capabilities=['site surveys'])``; 'Which apps are
suspended?' -> ``registry_list(status=['suspended'])``; 'List our finance apps' ->
``registry_list(category='finance')``. App names, statuses and categories are matched against the
registry as the context lists it, never against a fixed list of apps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nexus_agent.planner.coverage import Portfolio


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


__all__ = ["PortfolioCall", "portfolio_call"]

_ABOUT_APPS = re.compile(r"\b(apps?|applications?|systems?|portfolio|satellites?)\b", re.I)
_ANYTHING = re.compile(
    r"\b(is there|are there|do we have|have we got|have we)\s+(anything|something|an? app|any apps?|any system)\b"
    r"|\b(is|does|can)\s+(anything|any app|anyone|any of our apps)\b|\banything (?:that )?(cover|handl|do)",
    re.I,
)
#: A question about what something can do: 'What can X do?', 'What does X handle?', 'X's capabilities'.
_ABILITY = re.compile(
    r"\bwhat\s+(?:can|could|does|do|will|would)\b.*\b(?:do|handle|cover|offer|support|manage|provide)\b"
    r"|\bcapabilit|\babilit|\bable to\b|\bfeatures?\b"
    r"|\bwhat(?:'s| is)\s+\S+(?:\s+\S+){0,3}\s+(?:for|used for|good for)\b"
    r"|\bwhat\s+\S+(?:\s+\S+){0,3}\s+(?:can|could)\s+do\b",
    re.I,
)
_PLURAL = re.compile(r"\b(which|what|any|list|show|all|our)\b[\w\s]{0,20}\bapps\b|\bapps\b|\banything\b", re.I)
_STATUS_WORDS: dict[str, str] = {
    "placeholder": "placeholder", "placeholders": "placeholder", "planned": "placeholder",
    "pending": "pending", "awaiting approval": "pending", "waiting for approval": "pending",
    "approved": "approved", "active": "active", "live": "active", "degraded": "degraded",
    "suspended": "suspended", "retired": "retired", "switched off": "suspended",
}  # fmt: skip
_FILLER = _set(
    "which what who whats is are there any anything something do does did we have got our the a an can could "
    "that which apps app application applications system systems portfolio satellite satellites in of for to "
    "with handle handles handling cover covers covering deal deals support supports offer offers do does able "
    "me show list tell give us all at moment right now currently still "
    "i it its us there's whats"
)


@dataclass
class PortfolioCall:
    tool: str
    arguments: dict[str, Any]
    why: str


def _named_app(clause: str, portfolio: Portfolio) -> str | None:
    lower = clause.lower()
    for app in sorted(portfolio.apps, key=lambda a: -len(a.slug)):
        for form in {app.slug, app.slug.replace("-", " "), app.name.lower()}:
            if form and re.search(rf"\b{re.escape(form)}\b", lower):
                return app.slug
    return None


def _wanted(clause: str) -> str:
    words = re.findall(r"[a-z][a-z-]*", clause.lower().replace("’", "'"))
    kept = [w for w in words if w not in _FILLER]
    return " ".join(w[:-1] if len(w) > 4 and w.endswith("s") and not w.endswith("ss") else w for w in kept)


def portfolio_call(clause: str, portfolio: Portfolio, offered: set[str]) -> PortfolioCall | None:
    """The registry or gap call that answers a question about the portfolio, or None if it is not one."""
    about_apps = bool(_ABOUT_APPS.search(clause))
    anything = bool(_ANYTHING.search(clause))
    named = _named_app(clause, portfolio)
    ability = bool(named and _ABILITY.search(clause))  # 'What can the glazing scheduler do?': that app's record
    if not (about_apps or anything or ability):
        return None
    lower = clause.lower()
    statuses = sorted({v for k, v in _STATUS_WORDS.items() if re.search(rf"\b{k}\b", lower)})
    category = next((c for c in sorted(portfolio.categories()) if re.search(rf"\b{re.escape(c)}\b", lower)), None)
    plural = bool(_PLURAL.search(clause)) and not ability
    if named and not plural and not statuses and "registry_get" in offered:
        return PortfolioCall("registry_get", {"slug": named}, f"the app named: {named}")
    if (statuses or category) and "registry_list" in offered:
        args: dict[str, Any] = {}
        if statuses:
            args["status"] = statuses
        if category:
            args["category"] = category
        return PortfolioCall("registry_list", args, "apps by " + " and ".join(k for k in args))
    wanted = _wanted(clause)
    if not wanted:
        return PortfolioCall("registry_list", {}, "every app") if "registry_list" in offered else None
    several = len([c for c in re.split(r",|\band\b|\bor\b", wanted) if c.strip()]) > 1
    if (anything or several) and "gaps_analyse" in offered:  # 'which apps cover X and Y': each one's coverage
        caps = [c.strip() for c in re.split(r",|\band\b|\bor\b", wanted) if c.strip()]
        return PortfolioCall("gaps_analyse", {"capabilities": caps}, f"whether anything covers: {wanted}")
    if "registry_list" in offered:
        return PortfolioCall("registry_list", {"text": wanted}, f"apps matching: {wanted}")
    return None
