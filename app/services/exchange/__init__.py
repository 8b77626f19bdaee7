"""The bundle exchange between the registry and the portal (ARCHITECTURE §2, docs/exchange.md):
this side's exchange keys and its registered peer (`keys`), publication bundles written by the
registry (`publication`) and imported by the portal (`receive`)."""
