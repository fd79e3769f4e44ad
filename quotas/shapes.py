"""Wire shapes of ``/api/quota``.

``GET /api/quota/claude/quota`` is what the web frontend polls: the reference's open-source
build answers ``{}`` (the frontend then hides its quota badge); with a quota configured we fill
the envelope the frontend reads (``{quota_source, data: {quota, usage, remaining, usage_rate,
user, user_quota_detail{...}}}``) with the quota closest to being used up.
"""

from __future__ import annotations

from typing import Any

from quotas.selectors import Figure

SOURCE = "wegent"


def _unit(figure: Figure) -> tuple[str, int, int]:
    """(unit, limit, used) of the figure's tighter limit."""
    rule = figure.rule
    options = []
    if rule.max_requests is not None:
        options.append(("requests", rule.max_requests, figure.used_requests))
    if rule.max_tokens is not None:
        options.append(("tokens", rule.max_tokens, figure.used_tokens))
    return max(options, key=lambda option: option[2] / option[1] if option[1] else 1.0)


def _rate(limit: int, used: int) -> float:
    return round(min(used / limit, 1.0), 4) if limit else 1.0


def frontend_quota(user_name: str, figures: list[Figure]) -> dict[str, Any]:
    if not figures:
        return {}
    headline = max(figures, key=lambda figure: _rate(*_unit(figure)[1:]))
    unit, limit, used = _unit(headline)
    monthly = next(
        (figure for figure in figures if figure.rule.period == "month" and _unit(figure)[0] == unit),
        None,
    )
    monthly_limit, monthly_used = _unit(monthly)[1:] if monthly is not None else (0, 0)
    return {
        "quota_source": SOURCE,
        "data": {
            "open": True,
            "quota": limit,
            "usage": used,
            "remaining": max(limit - used, 0),
            "usage_rate": _rate(limit, used),
            "user": user_name,
            "quota_source": SOURCE,
            "unit": unit,
            "period": headline.rule.period,
            "reset_at": headline.as_dict()["reset_at"],
            "user_quota_detail": {
                "demand_quota": 0,
                "monthly_quota": monthly_limit,
                "monthly_usage": monthly_used,
                "permanent_quota": 0,
                "permanent_usage": 0,
                "task_quota": 0,
            },
        },
    }


def my_quotas(figures: list[Figure]) -> dict[str, Any]:
    return {"quotas": [figure.as_dict() for figure in figures]}
