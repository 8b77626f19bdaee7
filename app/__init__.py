"""CreditGate: the Flask application. The factory is `app.factory.create_app`."""
