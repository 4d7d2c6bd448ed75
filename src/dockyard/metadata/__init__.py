"""The metadata layer: SQLAlchemy 2 models, sessions and queries. The only home of SQL."""
