"""Mail templates: a subject, a plain-text and an HTML body per kind of message.

The shipped templates live beside this module; ``TESSERA_MAIL_TEMPLATES_DIR`` replaces any
of them by file name (``<kind>.subject.txt``, ``<kind>.txt``, ``<kind>.html``). They are
``string.Template`` texts (``$link``, ``$username``, ...): no logic in a template, and
values are HTML-escaped in the HTML body.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

__all__ = ["MAIL_KINDS", "MailTemplates", "RenderedMail"]

MAIL_KINDS = (
    "password_reset",
    "password_changed",
    "email_verification",
    "email_changed",
    "second_factor_changed",
    "personal_token_created",
    "personal_token_revoked",
)


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class MailTemplates:
    """Every template read once, at startup, so a missing or broken override fails then.

    Example:
        >>> MailTemplates().render("password_reset", link="https://app/r?t=x",
        ...     username="alice", minutes=30).subject
        'Reset your password'
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.templates: dict[str, Template] = {}
        shipped = resources.files(__package__).joinpath("templates")
        for kind in MAIL_KINDS:
            for suffix in (".subject.txt", ".txt", ".html"):
                name = kind + suffix
                override = directory / name if directory else None
                if override is not None and override.exists():
                    source = override.read_text(encoding="utf-8")
                else:
                    source = shipped.joinpath(name).read_text(encoding="utf-8")
                self.templates[name] = Template(source)

    def render(self, kind: str, **context: object) -> RenderedMail:
        """The message of ``kind`` with ``context`` filled in; ``KeyError`` for a
        placeholder the context lacks."""
        values = {name: str(value) for name, value in context.items()}
        escaped = {name: html.escape(value) for name, value in values.items()}
        subject = self.templates[f"{kind}.subject.txt"].substitute(values).strip()
        return RenderedMail(
            subject=" ".join(subject.split()),  # no header injection through a newline
            text=self.templates[f"{kind}.txt"].substitute(values),
            html=self.templates[f"{kind}.html"].substitute(escaped),
        )
