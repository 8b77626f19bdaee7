"""Enrolment of real people: registrars enrol subjects, issue and replace their cards; subjects
report a lost card."""
