"""The public lists (双公示, dishonest judgment debtors): their search index and the search."""
