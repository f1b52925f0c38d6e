"""QA sampling and scorecards (models arrive with the QA issue)."""
