"""Statistics for government and the regulator: aggregates only, small cells suppressed."""
