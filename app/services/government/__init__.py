"""Government and administrative queriers: agencies, their reports on a legal basis, and the
compliance review's list of their queries."""
