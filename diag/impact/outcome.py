"""What a proposal's translation yields besides policy changes: resources that could not be replayed
(reported, and they make ``kmsdiag impact`` exit 3 unless ``--allow-unreplayed``), keys the change deletes
(every observed call on them breaks) and informational notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from diag.proof.change import Change


@dataclass(frozen=True)
class NotReplayed:
    """A resource of the proposal whose effect kmsdiag could not replay, and why."""

    where: str  # Terraform address or CloudFormation logical ID
    kind: str  # the resource type
    reason: str

    def text(self) -> str:
        return f"{self.where} ({self.kind}): {self.reason}" if self.kind else f"{self.where}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.where, "type": self.kind, "reason": self.reason}


@dataclass(frozen=True)
class KeyDeletion:
    """A key the proposal deletes (scheduled for deletion): no call on it succeeds afterwards."""

    key_arn: str
    by: str  # the resource that deletes it (Terraform address or CloudFormation logical ID)


@dataclass
class Translation:
    """The policy changes of a proposal, the keys it deletes, what could not be replayed and notes."""

    changes: list[Change] = field(default_factory=list)
    deleted_keys: list[KeyDeletion] = field(default_factory=list)
    not_replayed: list[NotReplayed] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def extend(self, other: Translation) -> None:
        self.changes += other.changes
        self.deleted_keys += other.deleted_keys
        self.not_replayed += other.not_replayed
        self.notes += other.notes

    def all_notes(self) -> list[str]:
        """Every remark as text: the notes, then each resource not replayed (the JSON ``notes`` list)."""
        return self.notes + [n.text() for n in self.not_replayed]
