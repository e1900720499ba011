"""The canonical tables: contracts, validation, reading."""
