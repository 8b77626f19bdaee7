"""Data in: subjects and their records, sealed on the way in."""
