"""Search spaces shipped with roadmap: one YAML file per seed (see roadmap.search.space)."""
