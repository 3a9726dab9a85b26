"""Raw tables in, validated tables out: the data contract, sources and validation."""
