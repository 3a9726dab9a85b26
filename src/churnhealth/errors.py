"""User-facing errors: each one prints as a single line and exits with code 2."""

from __future__ import annotations


def first_problem(exc: Exception) -> str:
    """The first problem of a validation error (pydantic's `errors()`) in one line, "where: what";
    any other error's text on one line."""
    errors = getattr(exc, "errors", None)
    if callable(errors) and (found := errors()):
        e = found[0]
        return f"{'.'.join(map(str, e['loc'])) or 'top level'}: {e['msg']}"
    return " ".join(str(exc).split())[:200]


class ChurnhealthError(Exception):
    """An error caused by the user's input (data, configuration, arguments)."""

    def lines(self) -> list[str]:
        return [str(self)]


class ConfigError(ChurnhealthError):
    """The configuration file is unreadable or has unknown keys or bad values."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))

    def lines(self) -> list[str]:
        return [f"config error: {p}" for p in self.problems]


class DataError(ChurnhealthError):
    """The input tables break the data contract; one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))

    def lines(self) -> list[str]:
        return [f"data error: {p}" for p in self.problems]
