from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"

    def ready(self) -> None:
        from approvals import connectors, selectors
        from approvals.realtime import person_sockets
        from notifications import slack
        from policies import rule_checks, simulation

        # A configured connector takes the place of a built-in executor (the sandbox's) for its
        # action type whether the sandbox registered first or not: see execution.registry.
        connectors.register_configured()
        # Policies replay past actions without importing approvals: approvals lends the reader.
        simulation.set_history_source(
            selectors.actions_for_replay, count=selectors.actions_for_replay_count
        )
        # A rule may only name a queue there is; queues live here, above policies.
        rule_checks.set_queue_source(selectors.queue_names)
        # Slack messages offer the reason codes of kind `reject`, which notifications cannot read.
        slack.set_reject_reasons(
            lambda: [(c.code, c.label) for c in selectors.reason_codes(kind="reject")]
        )
        # A person's sockets close when they sign out or their roles or queues change.
        person_sockets.connect()
