"""What the users service holds while it runs, seen by every request as ``request.state``."""

from __future__ import annotations

from dataclasses import dataclass

from tessera_core.runtime import CoreLifespanState
from tessera_users.admin.cursor import CursorCodec


@dataclass(frozen=True)
class UsersState:
    cursors: CursorCodec


class UsersLifespanState(CoreLifespanState):
    users: UsersState
