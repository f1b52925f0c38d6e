"""Reading the action type catalog, the policy versions and their rules, and diffs between them."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db.models import Count, Exists, OuterRef

from config.errors import Code, NotFound
from policies import rule_checks
from policies.diff import RulesDiff, diff_rules
from policies.engine import CompiledPolicy, Decision, DerivedValues, compiled_policy, decide
from policies.models import ActionType, PolicyVersion, PublicationRequest, Rule, Tier
from policies.validation import action_type_checked


def action_type_get(*, key: str) -> ActionType | None:
    return ActionType.objects.filter(key=key).first()


def active_policy() -> CompiledPolicy | None:
    version = PolicyVersion.objects.filter(is_active=True).order_by("-number").first()
    return compiled_policy(version) if version else None


def decision_for(
    *,
    agent_name: str,
    action_type: str,
    params: dict,
    context: dict,
    intent: str = "execute",
    derived: DerivedValues = None,
) -> tuple[ActionType, Decision]:
    """What the active policy decides for this action: validates it, records nothing.

    `derived` (values or a function returning them) is what conditions read as `derived.*`.
    """
    action_type_obj = action_type_checked(
        action_type_get(key=action_type), key=action_type, params=params
    )
    decision = decide(
        policy=active_policy(),
        action_type=action_type_obj,
        agent_name=agent_name,
        params=params,
        context=context,
        intent=intent,
        derived=derived,
    )
    return action_type_obj, decision


def action_types() -> list[ActionType]:
    return list(ActionType.objects.order_by("key"))


def policy_versions() -> list[PolicyVersion]:
    """Every version, newest first, each with `rule_count` and `waiting` (a request to publish or
    activate it waits for a second admin)."""
    waiting = PublicationRequest.objects.filter(
        policy_version=OuterRef("pk"), state=PublicationRequest.State.PENDING
    )
    versions = PolicyVersion.objects.annotate(
        rule_count=Count("rules"), waiting=Exists(waiting)
    ).order_by("-number")
    return list(versions)


def policy_version_get(*, number: int) -> PolicyVersion:
    version = PolicyVersion.objects.filter(number=number).first()
    if version is None:
        raise NotFound(f"No policy version {number}.", code=Code.POLICY_VERSION_NOT_FOUND)
    return version


def active_version() -> PolicyVersion | None:
    return PolicyVersion.objects.filter(is_active=True).order_by("-number").first()


def published_before(*, version: PolicyVersion) -> PolicyVersion | None:
    return (
        PolicyVersion.objects.filter(
            status=PolicyVersion.Status.PUBLISHED, number__lt=version.number
        )
        .order_by("-number")
        .first()
    )


def policy_rules(*, version: PolicyVersion) -> list[Rule]:
    return list(version.rules.order_by("position", "id"))


def policy_compile(*, version: PolicyVersion) -> CompiledPolicy:
    """A version compiled for deciding. Only published versions use the engine's cache:
    a draft changes under edits, so it is compiled afresh from its current rules every time."""
    if version.is_draft:
        return CompiledPolicy(version, policy_rules(version=version))
    return compiled_policy(version)


@dataclass(frozen=True)
class PolicyDiff:
    old: PolicyVersion | None
    new: PolicyVersion
    rules: RulesDiff


def policy_diff(*, old: int | None, new: int) -> PolicyDiff:
    """What changed from version `old` (none: an empty policy) to version `new`."""
    new_version = policy_version_get(number=new)
    old_version = policy_version_get(number=old) if old is not None else None
    old_specs = [r.spec() for r in policy_rules(version=old_version)] if old_version else []
    new_specs = [r.spec() for r in policy_rules(version=new_version)]
    return PolicyDiff(old=old_version, new=new_version, rules=diff_rules(old_specs, new_specs))


def tiers() -> list[Tier]:
    """Every escalation tier, by key, each with its next tier."""
    return list(Tier.objects.select_related("next_tier").order_by("key"))


def tier_get(*, key: str) -> Tier | None:
    return Tier.objects.select_related("next_tier").filter(key=key).first()


def default_tier() -> Tier | None:
    return Tier.objects.filter(is_default=True).order_by("key").first()


def publication_waiting(*, version: PolicyVersion) -> PublicationRequest | None:
    """The request to publish or activate `version` that waits for a second admin, if any."""
    return (
        version.publication_requests.filter(state=PublicationRequest.State.PENDING)
        .select_related("requested_by")
        .order_by("id")
        .first()
    )


def queue_names() -> list[str]:
    """The queues a rule may name (empty: the default queue), for the editor's list."""
    return sorted(rule_checks.queue_names() or ())


def group_names() -> list[str]:
    """The Django groups there are: the roles, and the teams that handle escalation tiers."""
    return list(Group.objects.order_by("name").values_list("name", flat=True))
