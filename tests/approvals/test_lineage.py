"""The lineage's wording: every action verb has words, and an unknown verb still shows."""

from __future__ import annotations

from approvals.lineage import WORDS, words
from audit.events import Verb


def test_every_action_verb_has_words():
    action_verbs = [verb for verb in Verb if verb.value.startswith("action.")]

    assert [verb for verb in action_verbs if verb not in WORDS] == []


def test_a_verb_outside_the_catalog_shows_as_it_was_logged():
    assert words("action.renamed_long_ago", {}) == "action.renamed_long_ago"


def test_a_catalogued_verb_without_words_shows_as_it_was_logged():
    assert words(Verb.CALLBACK_FAILED.value, {}) == "callback.failed"


def test_the_words_carry_what_the_event_data_adds():
    assert words("action.approval_recorded", {"approvals": 1, "required": 2}) == (
        "recorded an approval (1 of 2)"
    )
    assert words("action.claim_taken_over", {"previous": "bob"}) == "took over the review from bob"
    assert words("action.released", {"expired": True}) == "let the review claim expire"
    assert words("action.submitted", {"decision": {"mode": "escalate", "rule_name": "r"}}) == (
        "submitted it: the policy said escalate (r)"
    )
