"""Grades A–E: grading subjects by the scorecard, the second approval of an A or an E, and what
subjects and registrars see of them (ARCHITECTURE §3 "Grading")."""
