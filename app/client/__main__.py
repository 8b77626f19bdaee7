"""Entry point: ``python -m app.client login|whoami|logout``."""

from app.client.cli import main

raise SystemExit(main())
