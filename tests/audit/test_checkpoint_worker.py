"""Beat's audit tasks, run by a real Celery worker process: the seal task chains committed events,
and the checkpoint task seals the head outside the database where `verify_audit` finds it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.db import transaction

from audit.checkpoints import audit_verify, checkpoints_read
from audit.events import Verb
from audit.models import AuditEvent
from audit.services import Actor, audit_record
from audit.tasks import audit_checkpoint, audit_seal
from tests.conftest import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def worker_checkpoint_dir(settings):
    """The directory the session's worker writes to (it inherited AUDIT_CHECKPOINT_DIR), emptied
    before and after: the rows a transactional test commits are flushed after it."""
    folder = Path(os.environ["AUDIT_CHECKPOINT_DIR"])
    shutil.rmtree(folder, ignore_errors=True)
    settings.AUDIT_CHECKPOINT_DIR = str(folder)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_checkpoint_task_and_seals_the_head(
    celery_worker_process, worker_checkpoint_dir
):
    with transaction.atomic():
        for i in range(3):
            audit_record(
                actor=Actor.system("test"), verb=Verb.USER_CREATED, object_type="user", object_id=i
            )

    audit_checkpoint.delay()

    # The task chains the three events first: the checkpoint covers them.
    wait_until(lambda: (worker_checkpoint_dir / f"{3:012d}.json").exists())
    head = AuditEvent.objects.get(seq=3)
    (checkpoint,) = checkpoints_read().valid
    assert (checkpoint.seq, checkpoint.hash) == (head.seq, head.hash)
    report = audit_verify()
    assert (report.ok, report.checked, report.checkpoints) == (True, 3, 1)


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_seal_task_and_chains_what_committed(celery_worker_process):
    with transaction.atomic():
        for i in range(3):
            audit_record(
                actor=Actor.system("test"), verb=Verb.USER_CREATED, object_type="user", object_id=i
            )
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 3

    audit_seal.delay()

    wait_until(lambda: not AuditEvent.objects.filter(seq__isnull=True).exists())
    assert list(AuditEvent.objects.order_by("id").values_list("seq", flat=True)) == [1, 2, 3]
