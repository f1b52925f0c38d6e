"""Celery tasks of the audit log: each loads nothing and calls one service."""

from celery import shared_task

from audit.checkpoints import audit_checkpoint_write


@shared_task(name="audit.tasks.audit_checkpoint", ignore_result=True)
def audit_checkpoint() -> int | None:
    """Beat's schedule: seal the chain's head outside the database (see README, "Audit")."""
    checkpoint = audit_checkpoint_write()
    return checkpoint.seq if checkpoint else None
