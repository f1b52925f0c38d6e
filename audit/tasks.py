"""Celery tasks of the audit log: each loads nothing and calls one service."""

from celery import shared_task

from audit.chain import audit_seal as audit_seal_pending
from audit.checkpoints import audit_checkpoint_write


@shared_task(name="audit.tasks.audit_checkpoint", ignore_result=True)
def audit_checkpoint() -> int | None:
    """Beat's schedule: seal the chain's head outside the database (see README, "Audit")."""
    checkpoint = audit_checkpoint_write()
    return checkpoint.seq if checkpoint else None


@shared_task(name="audit.tasks.audit_seal", ignore_result=True)
def audit_seal() -> int:
    """Beat's schedule, every `AUDIT_SEAL_INTERVAL_SECONDS`: chain the events committed since the
    last run. Leaves at once if another sealer is at it (it will chain them)."""
    return audit_seal_pending(wait=False)
