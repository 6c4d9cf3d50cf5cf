"""Administration: the keyset-paginated user listing and account deactivation."""
