"""Who may act for whom, and on whose TPUs.

A treasurer may create, queue or run for a member (`--for`): the TPU carries that member's
owner label and is billed to them, and the ledger records the treasurer as the one who did
it. A member acting on a TPU another member owns must say so with `--force`; what they did
is recorded under their own name. A treasurer may act on any TPU.
"""

from __future__ import annotations

from tpuctl.domain.budgets import GroupRules
from tpuctl.domain.nodes import NodeInfo
from tpuctl.errors import NotFoundError, PermissionDeniedError
from tpuctl.services.ledger import Books


def acting_for(books: Books, member: str | None) -> str:
    """Whose bill a request goes on: `member` if the actor is a treasurer, else the actor."""
    actor = books.actor
    if member is None or member == actor:
        return actor
    rules = books.sync().db.rules()
    if not rules.is_treasurer(actor):
        raise PermissionDeniedError(f"{actor} is not a treasurer, so cannot act for {member}.",
                                    hint=f"Leave out --for to act as yourself; a treasurer can act for {member}.")
    if rules.currency is not None:
        check_member(rules, member)
    return member


def check_member(rules: GroupRules, member: str) -> None:
    """A TPU can be someone's only if they are in the group."""
    if member not in rules.members:
        raise NotFoundError(f"{member} is not a member of this group.",
                            hint=f"Add them first: `tpuctl group add {member} --key KEY`.")


def check_owner(books: Books, node: NodeInfo, force: bool, verb: str, record: str = "the ledger") -> None:
    """Refuse to act on another member's TPU without --force (treasurers need none)."""
    owner = node.owner
    if owner is None or owner == books.actor or force:
        return
    rules = books.sync().db.rules()
    if rules.is_treasurer(books.actor):
        return
    hint = (f"{owner} or a treasurer can start it: its time goes on {owner}'s bill." if verb == "start"
            and rules.trust.signed else f"Pass --force to {verb} it anyway; {record} records that {books.actor} did.")
    raise PermissionDeniedError(f"TPU '{node.name}' is {owner}'s, not yours, so tpuctl will not {verb} it.", hint=hint)


def check_may_start(books: Books, node: NodeInfo) -> None:
    """Starting a TPU puts its time on its owner's bill (or, for one made outside tpuctl, on the
    group's shared costs), which in a signed group only that owner or a treasurer may add to:
    refused before it starts, since the ledger would not count anyone else's record of it."""
    if node.owner == books.actor:
        return
    rules = books.sync().db.rules()
    if not rules.trust.signed or rules.is_treasurer(books.actor):
        return
    if node.owner is None:
        raise PermissionDeniedError(
            f"TPU '{node.name}' is billed to nobody (it was made outside tpuctl), so {books.actor} cannot start it: "
            "its time would go on the group's shared costs.",
            hint=f"A treasurer can give it to you first (`tpuctl claim {node.name} --for {books.actor}`), or start it.")
    raise PermissionDeniedError(
        f"TPU '{node.name}' is {node.owner}'s, so {books.actor} cannot start it: "
        f"its time would go on {node.owner}'s bill.",
        hint=f"{node.owner} or a treasurer can start it.")
