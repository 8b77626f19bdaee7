"""Credit reports: their assembly under a decision, and the query kinds that answer with one."""
