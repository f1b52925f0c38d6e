"""QA\x27s HTML pages."""
