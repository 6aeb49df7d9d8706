"""Who may do what: roles from the workspace's team file, checked by every write in :mod:`euds_core.curation`.

``EUDS_HOME/team.toml`` maps identities (the e-mail a person signs in with, or the name given to the CLI's
``--reviewer``) to one of three roles; an e-mail not listed takes its domain's role, then ``default``::

    default = "viewer"            # anyone else who signs in (leave it out: nobody else gets in)
    [users]
    "lea@example.org" = "lead"
    [domains]
    "example.org" = "reviewer"

viewer reads; reviewer also records and undoes decisions; lead also resolves disagreements, asks for double
review, exports and starts fine-tunes. Without a team file the workspace is one person's: everything is
allowed to everyone, as before roles existed. The check trusts the identity it is given: the app passes the
signed-in identity, the CLI the ``--reviewer`` name (see docs/team-review.md for what that protects).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from euds_core.errors import EudsInputError, EudsPermissionError
from euds_core.storage.workspace import euds_home

TEAM_FILE_NAME = "team.toml"
ANONYMOUS_PREFIX = "anonymous-"  # an unnamed app session's identity: its own undo stack, never a team role
ROLES = ("viewer", "reviewer", "lead")
# action -> the least role allowed to do it, and how a refusal names it
ACTIONS = {
    "read": ("viewer", "reading this workspace"),
    "decide": ("reviewer", "recording keep / drop decisions"),
    "undo": ("reviewer", "undoing decisions"),
    "resolve": ("lead", "resolving disagreements between reviewers"),
    "assign": ("lead", "asking for double review"),
    "export": ("lead", "exporting a subset"),
    "finetune": ("lead", "starting a fine-tune"),
}


@dataclass(frozen=True)
class Team:
    """The parsed team file: identity -> role, domain -> role, and the role of anyone else (or None)."""

    path: Path
    users: dict[str, str]
    domains: dict[str, str]
    default: str | None

    def role_of(self, identity: str) -> str | None:
        who = str(identity or "").strip().lower()
        if not who or who.startswith(ANONYMOUS_PREFIX):
            return None  # with a team file nobody unnamed gets a role
        if who in self.users:
            return self.users[who]
        domain = who.rpartition("@")[2] if "@" in who else ""
        return self.domains.get(domain, self.default)


def team_path() -> Path:
    return euds_home() / TEAM_FILE_NAME


def _role(value, where: str, path: Path) -> str:
    role = str(value).strip().lower()
    if role not in ROLES:
        raise EudsInputError(f"{path.name}: {where} has role '{value}'; roles are viewer, reviewer, lead")
    return role


def _mapping(data: dict, table: str, path: Path) -> dict[str, str]:
    entries = data.get(table, {})
    if not isinstance(entries, dict):
        raise EudsInputError(f'{path.name}: [{table}] must be a table of "name" = "role" lines')
    return {str(k).strip().lower().lstrip("@"): _role(v, f"{table} '{k}'", path) for k, v in entries.items()}


def load_team(path: Path | None = None) -> Team | None:
    """The workspace's team file, or None when there is none (a one-person workspace)."""
    path = path or team_path()
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EudsInputError(f"could not read the team file {path}: {exc}") from None
    unknown = set(data) - {"default", "users", "domains"}
    if unknown:
        raise EudsInputError(
            f"{path.name}: unknown key(s) {', '.join(sorted(unknown))}; use default, [users], [domains]"
        )
    default = _role(data["default"], "default", path) if "default" in data else None
    return Team(path, _mapping(data, "users", path), _mapping(data, "domains", path), default)


def role_of(identity: str) -> str | None:
    """The identity's role; ``lead`` for everyone when the workspace has no team file."""
    team = load_team()
    return "lead" if team is None else team.role_of(identity)


def allowed(identity: str, action: str) -> bool:
    try:
        require(identity, action)
    except EudsPermissionError:
        return False
    return True


def require(identity: str | None, action: str) -> None:
    """Raise :class:`EudsPermissionError` (a clear message) unless ``identity``'s role allows ``action``."""
    needed, what = ACTIONS[action]
    team = load_team()
    if team is None:
        return
    role = team.role_of(identity or "")
    named = str(identity or "").strip() and not str(identity).startswith(ANONYMOUS_PREFIX)
    who = f"'{identity}'" if named else "an anonymous user (sign in or give your name)"
    if role is None:
        raise EudsPermissionError(
            f"{who} is not in this workspace's team ({team.path}); {what} needs the {needed} role — ask a lead"
        )
    if ROLES.index(role) < ROLES.index(needed):
        raise EudsPermissionError(f"{who} is a {role}: {what} needs the {needed} role — ask a lead")
