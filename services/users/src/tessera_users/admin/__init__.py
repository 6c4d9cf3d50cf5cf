"""Administration: the keyset-paginated user listing and account deactivation."""

__all__: list[str] = []
