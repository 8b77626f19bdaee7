"""Subjects' rights on their records: objections, statements, disputes, the inbox."""
